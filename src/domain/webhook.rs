//! Outgoing webhooks of the API channel (R-CHAN-3, R-OPS-5): each delivery is stored before it is
//! tried, signed with HMAC-SHA256 over `timestamp.body`, and retried with a growing pause until the
//! receiver answers 2xx. Pure apart from the record itself.

use ring::hmac;
use serde::{Deserialize, Serialize};

use super::ids::ChannelId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub channel: ChannelId,
    pub url: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub created_at: u64,
    #[serde(default)]
    pub attempts: u32,
    /// Not before this time (ms).
    pub next_at: u64,
    #[serde(default)]
    pub delivered_at: Option<u64>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"), for `X-Centralita-Signature`.
pub fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The pause after the `attempts`-th failure: 30 s, 1 min, 2 min … at most an hour.
pub fn retry_pause_ms(attempts: u32) -> u64 {
    30_000u64.saturating_mul(1 << attempts.saturating_sub(1).min(7)).min(3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, "{\"a\":1}");
        assert_eq!(sig, "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_ne!(sig, signature("whsec_other", 1_700_000_000, "{\"a\":1}"));
        assert_ne!(sig, signature("whsec_test", 1_700_000_001, "{\"a\":1}"));
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_pause_ms(1), 30_000);
        assert_eq!(retry_pause_ms(2), 60_000);
        assert_eq!(retry_pause_ms(20), 3_600_000);
    }
}
