//! One-time and long-lived secrets: random tokens (256 bits), stored only as SHA-256 hashes, and
//! the validity rules of invite and reset links (R-ACC-2). Pure apart from the random source.

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::ids::UserId;

/// Invite and reset links live seven days.
pub const LINK_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// A new random token as URL-safe text, with `prefix` to tell kinds apart when pasted.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", base64url(&random_bytes::<32>()))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system random source only fails if the OS has none; nothing can run safely then.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        panic!("the operating system's random number generator failed");
    }
    bytes
}

/// What is stored of a token: its SHA-256. A leaked database yields no usable token.
pub fn hash(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Compares without stopping at the first difference, so timing does not reveal a secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Invite,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Open,
    Used,
    /// A newer link of the same kind was sent to the same user.
    Replaced,
    /// The user's password changed after it was sent (issue 13, finding 6).
    Revoked,
}

/// An invite or password-reset link, stored under the hash of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub kind: LinkKind,
    pub user: UserId,
    pub created_at: u64,
    pub state: LinkState,
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    Unknown,
    WrongKind,
    Expired,
    Used,
    Replaced,
    Revoked,
}

impl Link {
    pub fn expires_at(&self) -> u64 {
        self.created_at.saturating_add(LINK_TTL_MS)
    }

    /// Valid up to and including `created_at + 7 days`, then dead.
    pub fn check(&self, kind: LinkKind, now: u64) -> Result<(), LinkProblem> {
        match self.state {
            _ if self.kind != kind => Err(LinkProblem::WrongKind),
            LinkState::Used => Err(LinkProblem::Used),
            LinkState::Replaced => Err(LinkProblem::Replaced),
            LinkState::Revoked => Err(LinkProblem::Revoked),
            LinkState::Open if now > self.expires_at() => Err(LinkProblem::Expired),
            LinkState::Open => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_token("ci_");
        let b = new_token("ci_");
        assert_ne!(a, b);
        assert!(a.starts_with("ci_"));
        assert_eq!(a.len(), 3 + 43, "256 bits in base64url");
        assert!(a[3..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn base64url_matches_rfc_4648_without_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn a_link_lives_exactly_seven_days() {
        let link = Link { kind: LinkKind::Invite, user: UserId(1), created_at: 1_000, state: LinkState::Open };
        assert_eq!(link.check(LinkKind::Invite, 1_000 + LINK_TTL_MS - 1000), Ok(()));
        assert_eq!(link.check(LinkKind::Invite, 1_000 + LINK_TTL_MS), Ok(()));
        assert_eq!(link.check(LinkKind::Invite, 1_000 + LINK_TTL_MS + 1000), Err(LinkProblem::Expired));
        assert_eq!(link.check(LinkKind::Reset, 1_000), Err(LinkProblem::WrongKind));
        let used = Link { state: LinkState::Used, ..link.clone() };
        assert_eq!(used.check(LinkKind::Invite, 1_000), Err(LinkProblem::Used));
        let replaced = Link { state: LinkState::Replaced, ..link.clone() };
        assert_eq!(replaced.check(LinkKind::Invite, 1_000), Err(LinkProblem::Replaced));
        let revoked = Link { state: LinkState::Revoked, ..link };
        assert_eq!(revoked.check(LinkKind::Invite, 1_000), Err(LinkProblem::Revoked));
    }
}
