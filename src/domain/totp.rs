//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), base32 secrets
//! for authenticator apps, and recovery codes. Pure apart from the random source.

use ring::hmac;

use super::secret::random_bytes;

pub const STEP_SECS: u64 = 30;
const DIGITS: u32 = 6;

pub fn new_secret() -> Vec<u8> {
    random_bytes::<20>().to_vec()
}

/// The code for a time step.
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let digest = hmac::sign(&key, &step.to_be_bytes());
    let bytes = digest.as_ref();
    let offset = usize::from(bytes[bytes.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([bytes[offset] & 0x7f, bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]]);
    value % 10u32.pow(DIGITS)
}

/// The step a code matches, checking one step either side of `now` for clock drift, and refusing
/// any step not after `last_used` (a code works once).
pub fn verify(secret: &[u8], code: &str, now_ms: u64, last_used: u64) -> Option<u64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let current = now_ms / 1000 / STEP_SECS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .filter(|step| *step > last_used)
        .find(|step| constant_time_eq(code_at(secret, *step), given))
}

fn constant_time_eq(a: u32, b: u32) -> bool {
    (a ^ b) == 0
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The otpauth URL as a QR code (SVG), for the authenticator app's camera. `None` only if the URL
/// were too long for a QR code, which an e-mail address of normal length never makes it.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build())
}

/// The `otpauth://` address that authenticator apps read from a QR code or a paste.
pub fn otpauth_url(secret: &[u8], account: &str) -> String {
    let label: String = account
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("otpauth://totp/centralita:{label}?secret={}&issuer=centralita&digits=6&period=30", base32(secret))
}

/// Ten recovery codes like `k7m2-q9xd-4hpt`, each usable once instead of a TOTP code.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..10)
        .map(|_| {
            let bytes = random_bytes::<12>();
            let chars: Vec<char> =
                bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
            format!(
                "{}-{}-{}",
                chars[0..4].iter().collect::<String>(),
                chars[4..8].iter().collect::<String>(),
                chars[8..12].iter().collect::<String>()
            )
        })
        .collect()
}

/// Recovery codes are compared after trimming and lower-casing.
pub fn normalize_recovery_code(code: &str) -> String {
    code.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to 6 digits.
    #[test]
    fn matches_the_rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in
            [(59u64, 287_082u32), (1_111_111_109, 81_804), (1_234_567_890, 5_924), (2_000_000_000, 279_037)]
        {
            assert_eq!(code_at(secret, time / STEP_SECS), expected, "t={time}");
        }
    }

    #[test]
    fn a_code_is_accepted_once_with_one_step_of_drift() {
        let secret = new_secret();
        let now = 1_700_000_000_000;
        let step = now / 1000 / STEP_SECS;
        let code = format!("{:06}", code_at(&secret, step - 1));
        assert_eq!(verify(&secret, &code, now, 0), Some(step - 1));
        assert_eq!(verify(&secret, &code, now, step - 1), None, "replay refused");
        let old = format!("{:06}", code_at(&secret, step - 2));
        assert_eq!(verify(&secret, &old, now, 0), None, "too old");
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(
            otpauth_url(b"f", "ana@example.com").starts_with("otpauth://totp/centralita:ana@example.com?secret=MY")
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_readable() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|code| code.len() == 14 && code.matches('-').count() == 2));
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn the_setup_url_becomes_an_svg_qr_code() {
        let url = otpauth_url(&[7; 20], "ana.lopez+soporte@example.com");
        let svg = qr_svg(&url).expect("fits in a QR code");
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
        assert!(qr_svg(&"x".repeat(5000)).is_none(), "too long for any QR code");
    }
}
