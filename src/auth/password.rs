//! Password hashing with argon2id (m=19 MiB, t=2, p=1: about 22 ms here), always on blocking
//! threads and at most two at a time, so sign-in storms cannot starve the async workers.

use std::sync::{Arc, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords { permits: Arc::new(Semaphore::new(2)) }
    }
}

impl Passwords {
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|err| HashError(err.to_string()))?;
        tokio::task::spawn_blocking(move || hash_now(&password)).await.map_err(|err| HashError(err.to_string()))?
    }

    /// Checks a password; with no stored hash it still does the work, so timing does not tell
    /// whether an account exists.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let checked = tokio::task::spawn_blocking(move || {
            let target = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let matches = Argon2::default().verify_password(password.as_bytes(), target).is_ok();
            matches && stored.is_some()
        });
        checked.await.unwrap_or(false)
    }
}

/// Hashes on the current thread (for the command line, which has no reactor to protect).
pub fn hash_now(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| HashError(err.to_string()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not a real password, only for timing").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse".into(), Some(hash.clone())).await);
        assert!(!passwords.verify("wrong horse".into(), Some(hash)).await);
        assert!(!passwords.verify("anything".into(), None).await);
    }
}
