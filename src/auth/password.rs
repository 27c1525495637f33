//! Password hashing with argon2id (m=19 MiB, t=2, p=1: about 22 ms here), on blocking threads.
//! Each hash holds a 19 MiB buffer, so how many run at once bounds the server's memory: one per
//! core, at most `MAX_AT_ONCE`. A few more may wait their turn; past that a check is refused at
//! once (`Busy`: 503 `busy` with Retry-After), so a storm of sign-ins costs neither memory nor an
//! ever longer wait for everyone, and a request that gave up does not hold a place in line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hashes at once at most, whatever the cores: 4 × 19 MiB is the most a storm may hold.
const MAX_AT_ONCE: usize = 4;

/// Waiting places per hash at once. A hash takes ~22 ms, so the last in line waits about
/// 32 hashes' time (under a second) — long enough to ride out a burst of real sign-ins, short
/// enough that a client told "busy" has not waited for nothing.
const WAITING_PER_HASH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Too many password checks are running or waiting: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Busy;

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Checks running or waiting for a permit.
    inside: Arc<AtomicUsize>,
    /// How many may be inside: running and waiting.
    limit: usize,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let at_once = cores.clamp(1, MAX_AT_ONCE);
        Passwords::with_limits(at_once, at_once * WAITING_PER_HASH)
    }
}

/// A place in line (and then a running hash); given back when dropped.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a running hash holds: its place and its permit, both kept until the hash ends — moved into
/// the blocking task, so a request dropped mid-hash (the client went away) does not let one more
/// 19 MiB hash start beside the one still running.
struct Turn {
    _place: Place,
    _permit: OwnedSemaphorePermit,
}

impl Passwords {
    /// `at_once` hashes at a time, `waiting` more in line.
    pub fn with_limits(at_once: usize, waiting: usize) -> Passwords {
        let (permits, inside) = (Arc::new(Semaphore::new(at_once)), Arc::new(AtomicUsize::new(0)));
        Passwords { permits, inside, limit: at_once + waiting }
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let turn = self.turn().await?;
        let hashed = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            hash_now(&password)
        });
        hashed.await.map_err(|err| HashError::Failed(err.to_string()))?
    }

    /// Checks a password; with no stored hash it still does the work, so timing does not tell
    /// whether an account exists.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, Busy> {
        let turn = self.turn().await?;
        let checked = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let target = stored.as_deref().unwrap_or_else(|| dummy_hash());
            let matches = Argon2::default().verify_password(password.as_bytes(), target).is_ok();
            matches && stored.is_some()
        });
        Ok(checked.await.unwrap_or(false))
    }

    /// A place in line, then a permit; `Busy` at once if the line is full.
    async fn turn(&self) -> Result<Turn, Busy> {
        let place = self.enter()?;
        // The semaphore is never closed, so acquiring only fails if it were.
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| Busy)?;
        Ok(Turn { _place: place, _permit: permit })
    }

    fn enter(&self) -> Result<Place, Busy> {
        // The place is counted first and given back on drop, refused or not: no check can slip
        // between the count and the test.
        let place = Place(Arc::clone(&self.inside));
        if self.inside.fetch_add(1, Ordering::AcqRel) >= self.limit {
            return Err(Busy);
        }
        Ok(place)
    }
}

/// Hashes on the current thread (for the command line, which has no reactor to protect).
pub fn hash_now(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| HashError::Failed(err.to_string()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not a real password, only for timing").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(passwords.verify("correct horse".into(), Some(hash.clone())).await, Ok(true));
        assert_eq!(passwords.verify("wrong horse".into(), Some(hash)).await, Ok(false));
        assert_eq!(passwords.verify("anything".into(), None).await, Ok(false));
    }

    #[test]
    fn past_the_running_and_the_waiting_a_check_is_busy_until_one_leaves() {
        let passwords = Passwords::with_limits(1, 2);
        let places: Vec<Place> = (0..3).map(|_| passwords.enter().unwrap()).collect();
        assert!(matches!(passwords.enter(), Err(Busy)));
        assert!(matches!(passwords.enter(), Err(Busy)), "a refusal gives its count back");
        drop(places);
        assert!(passwords.enter().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_given_up_by_its_caller_keeps_its_permit_until_its_hash_ends() {
        let passwords = Passwords::with_limits(1, 8);
        let _ = dummy_hash();
        // The caller gives up (the client went away) while the hash runs.
        let gave_up = tokio::time::timeout(Duration::from_millis(1), passwords.verify("guess".into(), None)).await;
        assert!(gave_up.is_err(), "a 19 MiB hash takes more than a millisecond");
        assert_eq!(passwords.permits.available_permits(), 0, "the running hash still holds its permit");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while passwords.permits.available_permits() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the permit came back when the hash ended");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(passwords.inside.load(Ordering::Acquire), 0);
    }
}
