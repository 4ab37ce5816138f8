//! The `Stripe-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, where each
//! `v1` is HMAC-SHA256 keyed with the endpoint's secret over `"<t>.<raw body>"`. The event is
//! taken when any `v1` matches (several while a secret is rolled) and `t` is within the
//! tolerance of now; other schemes (`v0`) are ignored. Comparisons are constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

/// Stripe's default tolerance.
pub const TOLERANCE: Duration = Duration::from_secs(300);
/// Longest header taken.
const MAX_HEADER: usize = 4096;

/// Why a signature was refused (each a `400`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or one without a timestamp or a `v1` signature.
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    /// No `v1` signature matches the body.
    #[error("no signature matches the body")]
    Mismatch,
    /// The timestamp is outside the tolerance.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

impl SignatureError {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Malformed => "bad_signature_header",
            SignatureError::Mismatch => "bad_signature",
            SignatureError::Stale => "stale_signature",
        }
    }
}

/// The header Stripe would send for `payload` signed with `secret` at `t` (tests, tools).
pub fn sign(secret: &[u8], t: i64, payload: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, payload).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], t: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Checks `header` for `payload` with `secret` at `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    payload: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header
        .filter(|h| h.len() <= MAX_HEADER)
        .ok_or(SignatureError::Malformed)?;
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => t = v.parse::<i64>().ok(),
            "v1" => v1.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, t, payload);
    let matched = v1.iter().any(|sig| {
        hex::decode(sig).is_ok_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.abs_diff(t) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    #[test]
    fn a_signature_made_as_stripe_makes_it_verifies() {
        let h = sign(SECRET, 1_000, BODY);
        assert_eq!(verify(SECRET, Some(&h), BODY, 1_010, TOLERANCE), Ok(()));
    }

    #[test]
    fn any_matching_v1_of_several_verifies_while_a_secret_is_rolled() {
        let old = sign(b"whsec_old", 1_000, BODY);
        let new = sign(SECRET, 1_000, BODY);
        let v1 = |h: &str| h.split_once(",v1=").unwrap().1.to_owned();
        let h = format!("t=1000,v1={},v1={},v0=abcd", v1(&old), v1(&new));
        assert_eq!(verify(SECRET, Some(&h), BODY, 1_000, TOLERANCE), Ok(()));
        assert_eq!(
            verify(b"whsec_old", Some(&h), BODY, 1_000, TOLERANCE),
            Ok(())
        );
        assert_eq!(
            verify(b"whsec_other", Some(&h), BODY, 1_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_body_a_stale_time_or_a_bad_header_is_refused() {
        let h = sign(SECRET, 1_000, BODY);
        let changed = br#"{"id":"evt_2"}"#;
        assert_eq!(
            verify(SECRET, Some(&h), changed, 1_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some(&h), BODY, 1_301, TOLERANCE),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(&h), BODY, 699, TOLERANCE),
            Err(SignatureError::Stale)
        );
        for bad in ["", "t=1000", "v1=00", "t=x,v1=00", "garbage"] {
            assert_eq!(
                verify(SECRET, Some(bad), BODY, 1_000, TOLERANCE),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(SECRET, None, BODY, 1_000, TOLERANCE),
            Err(SignatureError::Malformed)
        );
    }
}
