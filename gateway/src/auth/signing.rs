//! HMAC-SHA256 signatures of state-changing REST calls from non-browser clients.
//!
//! Login and refresh hand the client a per-session signing key and its key id
//! (`<sid>.<generation>`; refresh rotates the key, and the previous key stays valid until the next
//! rotation). A signed request carries four headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Loh-Key-Id` | the key id |
//! | `X-Loh-Timestamp` | Unix seconds; within ±300 s of the server's clock |
//! | `X-Loh-Nonce` | 16–64 characters of `A-Z a-z 0-9 - _`, never reused with the key |
//! | `X-Loh-Signature` | lower-case hex HMAC-SHA256 of the canonical string |
//!
//! The canonical string is `METHOD \n path-and-query \n timestamp \n nonce \n hex(SHA-256(body))`.
//! The MAC is compared in constant time; the nonce is recorded only once the MAC is good, so a
//! forger cannot burn a client's nonces.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Accepted clock difference between client and server.
pub const WINDOW_SECS: i64 = 300;

pub const KEY_ID: &str = "x-loh-key-id";
pub const TIMESTAMP: &str = "x-loh-timestamp";
pub const NONCE: &str = "x-loh-nonce";
pub const SIGNATURE: &str = "x-loh-signature";

type HmacSha256 = Hmac<Sha256>;

/// The string a signature covers.
pub fn canonical(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{}",
        hex::encode(Sha256::digest(body))
    )
}

/// The signature a client sends (lower-case hex).
pub fn sign(
    key: &[u8],
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(canonical(method, path_and_query, timestamp, nonce, body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The signature headers of a request, read but not yet checked.
#[derive(Debug, Clone)]
pub struct SignedHeaders {
    pub key_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: Vec<u8>,
}

/// `401 bad_signature`.
pub fn bad_signature() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad_signature",
        "the request signature is missing or wrong",
    )
}

impl SignedHeaders {
    /// `Ok(None)` when the request carries no signature at all.
    pub fn read(headers: &HeaderMap) -> Result<Option<SignedHeaders>, ApiError> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(key_id), Some(ts), Some(nonce), Some(sig)) =
            (get(KEY_ID), get(TIMESTAMP), get(NONCE), get(SIGNATURE))
        else {
            return if [KEY_ID, TIMESTAMP, NONCE, SIGNATURE]
                .iter()
                .any(|h| headers.contains_key(*h))
            {
                Err(bad_signature())
            } else {
                Ok(None)
            };
        };
        let nonce_ok = (16..=64).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let timestamp = ts.parse::<i64>().map_err(|_| bad_signature())?;
        let signature = hex::decode(sig).map_err(|_| bad_signature())?;
        if !nonce_ok || key_id.len() > 64 || signature.len() != 32 {
            return Err(bad_signature());
        }
        Ok(Some(SignedHeaders {
            key_id: key_id.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        }))
    }

    /// Checks the window and the MAC (constant time). The caller records the nonce afterwards.
    pub fn check(
        &self,
        key: &[u8],
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), ApiError> {
        if (now_secs - self.timestamp).abs() > WINDOW_SECS {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "stale_request",
                "the request timestamp is outside the ±300 s window",
            ));
        }
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(canonical(method, path_and_query, self.timestamp, &self.nonce, body).as_bytes());
        mac.verify_slice(&self.signature)
            .map_err(|_| bad_signature())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(key_id: &str, ts: i64, nonce: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(KEY_ID, key_id.parse().unwrap());
        h.insert(TIMESTAMP, ts.to_string().parse().unwrap());
        h.insert(NONCE, nonce.parse().unwrap());
        h.insert(SIGNATURE, sig.parse().unwrap());
        h
    }

    #[test]
    fn a_signature_covers_method_path_time_nonce_and_body() {
        let key = b"0123456789abcdef0123456789abcdef";
        let nonce = "nonce-0123456789";
        let sig = sign(key, "POST", "/v1/auth/logout", 1000, nonce, b"{}");
        let signed = SignedHeaders::read(&headers("k.1", 1000, nonce, &sig))
            .unwrap()
            .unwrap();
        assert!(
            signed
                .check(key, "POST", "/v1/auth/logout", b"{}", 1000)
                .is_ok()
        );
        assert!(
            signed
                .check(key, "POST", "/v1/auth/logout", b"{ }", 1000)
                .is_err()
        );
        assert!(
            signed
                .check(key, "PUT", "/v1/auth/logout", b"{}", 1000)
                .is_err()
        );
        assert!(
            signed
                .check(key, "POST", "/v1/auth/login", b"{}", 1000)
                .is_err()
        );
        let stale = signed.check(key, "POST", "/v1/auth/logout", b"{}", 1000 + 301);
        assert_eq!(stale.unwrap_err().code, "stale_request");
        assert!(
            signed
                .check(key, "POST", "/v1/auth/logout", b"{}", 1000 - 300)
                .is_ok()
        );
    }

    #[test]
    fn partial_or_malformed_signature_headers_are_refused_and_absent_ones_are_none() {
        assert!(SignedHeaders::read(&HeaderMap::new()).unwrap().is_none());
        let mut h = HeaderMap::new();
        h.insert(NONCE, "abc".parse().unwrap());
        assert!(SignedHeaders::read(&h).is_err());
        assert!(SignedHeaders::read(&headers("k.1", 1, "short", "00")).is_err());
    }
}
