//! The browser side of request integrity.
//!
//! A request is treated as coming from a browser when it carries `Origin` or `Sec-Fetch-Site`
//! (browsers send them on every unsafe request; native clients send neither). On unsafe methods:
//! a foreign `Origin` (not the server's own host, not in the allow-list) or
//! `Sec-Fetch-Site: cross-site` from a foreign origin is `403 bad_origin`. Session-bound calls
//! from a browser also need the CSRF token: a signed double-submit token
//! `<random>.<expiry>.<HMAC(secret, sid ‖ random ‖ expiry)>`, set as the `loh_csrf` cookie at
//! login and echoed in the `X-CSRF-Token` header; both must be equal (constant time), the MAC must
//! name the session, and the token dies with its session: the expiry (Unix seconds) is the
//! session's absolute end of life, checked on every use, and the cookie's `Max-Age` ends with it.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_COOKIE: &str = "loh_csrf";

/// Origins allowed to call the server from a browser (besides the server's own host).
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    allowed: Vec<String>,
}

impl OriginPolicy {
    pub fn new(allowed: impl IntoIterator<Item = String>) -> OriginPolicy {
        OriginPolicy {
            allowed: allowed
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// Whether `origin` may talk to this server (reached as `host`).
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return true;
        }
        host.is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            origin == format!("http://{host}") || origin == format!("https://{host}")
        })
    }

    /// Checks an unsafe request's `Origin` and `Sec-Fetch-Site`; also used for the WebSocket
    /// handshake. Requests with neither header (native clients) pass.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin = headers
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("?"));
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let allowed = match origin {
            Some(origin) => self.allows(origin, host),
            // No Origin: a cross-site browser request would still say so here.
            None => !matches!(site, Some("cross-site" | "same-site")),
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "bad_origin",
                "cross-site requests are not allowed",
            ))
        }
    }
}

/// Whether a request comes from a browser.
pub fn is_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site")
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], sid: &str, random: &str, expires_at: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"loh csrf v2\0");
    mac.update(sid.as_bytes());
    mac.update(b"\0");
    mac.update(random.as_bytes());
    mac.update(b"\0");
    mac.update(expires_at.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A new CSRF token bound to session `sid`, valid until `expires_at` (Unix seconds: the
/// session's end of life).
pub fn issue(secret: &[u8], sid: &str, expires_at: i64) -> String {
    let random = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
    let expires_at = expires_at.to_string();
    let tag = URL_SAFE_NO_PAD.encode(mac(secret, sid, &random, &expires_at));
    format!("{random}.{expires_at}.{tag}")
}

/// The `Set-Cookie` value carrying `token`, kept by the browser for `max_age_secs` (until the
/// session ends).
pub fn cookie(token: &str, max_age_secs: i64) -> String {
    format!(
        "{CSRF_COOKIE}={token}; Path=/; Max-Age={}; Secure; SameSite=Strict",
        max_age_secs.max(0)
    )
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn csrf_failed() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "missing or invalid CSRF token",
    )
}

/// Checks the double-submit token of a browser request in session `sid` at `now` (Unix seconds).
pub fn verify(secret: &[u8], sid: &str, headers: &HeaderMap, now: i64) -> Result<(), ApiError> {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(csrf_failed)?;
    let cookie = cookie_value(headers, CSRF_COOKIE).ok_or_else(csrf_failed)?;
    if !bool::from(sent.as_bytes().ct_eq(cookie.as_bytes())) {
        return Err(csrf_failed());
    }
    let mut parts = sent.splitn(3, '.');
    let (Some(random), Some(expires_at), Some(tag)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(csrf_failed());
    };
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| csrf_failed())?;
    if !bool::from(mac(secret, sid, random, expires_at).ct_eq(&tag)) {
        return Err(csrf_failed());
    }
    match expires_at.parse::<i64>() {
        Ok(end) if now < end => Ok(()),
        _ => Err(csrf_failed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_is_bound_to_its_session_and_must_match_the_cookie() {
        let secret = [7u8; 32];
        let token = issue(&secret, "sid-a", 2_000);
        let mut h = HeaderMap::new();
        h.insert(CSRF_HEADER, token.parse().unwrap());
        h.insert(
            header::COOKIE,
            format!("x=1; {CSRF_COOKIE}={token}").parse().unwrap(),
        );
        assert!(verify(&secret, "sid-a", &h, 1_000).is_ok());
        assert!(verify(&secret, "sid-b", &h, 1_000).is_err());
        h.insert(
            header::COOKIE,
            format!("{CSRF_COOKIE}=other").parse().unwrap(),
        );
        assert!(verify(&secret, "sid-a", &h, 1_000).is_err());
    }

    fn headers_with(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CSRF_HEADER, token.parse().unwrap());
        h.insert(
            header::COOKIE,
            format!("{CSRF_COOKIE}={token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_csrf_token_expires_with_its_session_and_its_expiry_cannot_be_moved() {
        let secret = [7u8; 32];
        let token = issue(&secret, "sid-a", 2_000);
        let h = headers_with(&token);
        assert!(verify(&secret, "sid-a", &h, 1_999).is_ok());
        assert_eq!(
            verify(&secret, "sid-a", &h, 2_000).unwrap_err().code,
            "csrf_failed",
            "dead with its session"
        );
        // Pushing the expiry forward breaks the MAC.
        let (random, rest) = token.split_once('.').unwrap();
        let (_, tag) = rest.split_once('.').unwrap();
        let moved = format!("{random}.9999999999.{tag}");
        assert!(verify(&secret, "sid-a", &headers_with(&moved), 1_000).is_err());
        // A token of the old two-part shape (no expiry) is refused.
        assert!(
            verify(
                &secret,
                "sid-a",
                &headers_with(&format!("{random}.{tag}")),
                1_000
            )
            .is_err()
        );
        assert!(cookie(&token, 600).contains("Max-Age=600"));
    }

    #[test]
    fn foreign_origins_are_refused_and_native_clients_pass() {
        let policy = OriginPolicy::new(["https://play.example".to_owned()]);
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "game.example".parse().unwrap());
        assert!(policy.check(&h).is_ok());
        h.insert(header::ORIGIN, "https://play.example".parse().unwrap());
        assert!(policy.check(&h).is_ok());
        h.insert(header::ORIGIN, "https://game.example".parse().unwrap());
        assert!(policy.check(&h).is_ok());
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert_eq!(policy.check(&h).unwrap_err().code, "bad_origin");
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(policy.check(&h).is_err());
    }
}
