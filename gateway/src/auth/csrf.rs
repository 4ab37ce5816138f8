//! The browser side of request integrity.
//!
//! A request is treated as coming from a browser when it carries `Origin` or `Sec-Fetch-Site`
//! (browsers send them on every unsafe request; native clients send neither). On unsafe methods:
//! a foreign `Origin` (not the server's own host, not in the allow-list) or
//! `Sec-Fetch-Site: cross-site` from a foreign origin is `403 bad_origin`. Session-bound calls
//! from a browser also need the CSRF token: a signed double-submit token
//! `<random>.<HMAC(secret, sid ‖ random)>`, set as the `loh_csrf` cookie at login and echoed in the
//! `X-CSRF-Token` header; both must be equal (constant time) and the MAC must name the session.

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

fn mac(secret: &[u8], sid: &str, random: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"loh csrf v1\0");
    mac.update(sid.as_bytes());
    mac.update(b"\0");
    mac.update(random.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A new CSRF token bound to session `sid`.
pub fn issue(secret: &[u8], sid: &str) -> String {
    let random = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
    let tag = URL_SAFE_NO_PAD.encode(mac(secret, sid, &random));
    format!("{random}.{tag}")
}

/// The `Set-Cookie` value carrying `token`.
pub fn cookie(token: &str) -> String {
    format!("{CSRF_COOKIE}={token}; Path=/; Secure; SameSite=Strict")
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

/// Checks the double-submit token of a browser request in session `sid`.
pub fn verify(secret: &[u8], sid: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(csrf_failed)?;
    let cookie = cookie_value(headers, CSRF_COOKIE).ok_or_else(csrf_failed)?;
    if !bool::from(sent.as_bytes().ct_eq(cookie.as_bytes())) {
        return Err(csrf_failed());
    }
    let (random, tag) = sent.split_once('.').ok_or_else(csrf_failed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| csrf_failed())?;
    if bool::from(mac(secret, sid, random).ct_eq(&tag)) {
        Ok(())
    } else {
        Err(csrf_failed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_is_bound_to_its_session_and_must_match_the_cookie() {
        let secret = [7u8; 32];
        let token = issue(&secret, "sid-a");
        let mut h = HeaderMap::new();
        h.insert(CSRF_HEADER, token.parse().unwrap());
        h.insert(
            header::COOKIE,
            format!("x=1; {CSRF_COOKIE}={token}").parse().unwrap(),
        );
        assert!(verify(&secret, "sid-a", &h).is_ok());
        assert!(verify(&secret, "sid-b", &h).is_err());
        h.insert(
            header::COOKIE,
            format!("{CSRF_COOKIE}=other").parse().unwrap(),
        );
        assert!(verify(&secret, "sid-a", &h).is_err());
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
