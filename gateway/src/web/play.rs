//! `/play`: the reference web client, its static files compiled into the binary (nothing to
//! install, no build step). The page speaks only the public protocol: the auth routes in browser
//! mode (CSRF token, `Origin` checks), MessagePack over the binary WebSocket, `GET /v1/content`.
//!
//! Files live in `gateway/play/`: `index.html`, `style.css`, `app.js` (the page), `loh-client.js`
//! (the client module of `docs/CLIENTS.md`), and `vendor/` (the MessagePack library from the npm
//! registry at a pinned version, with its licence).

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file: its path under `/play/`, media type and bytes.
struct File {
    path: &'static str,
    media: &'static str,
    bytes: &'static [u8],
}

macro_rules! file {
    ($path:literal, $media:literal) => {
        File {
            path: $path,
            media: $media,
            bytes: include_bytes!(concat!("../../play/", $path)),
        }
    };
}

const FILES: &[File] = &[
    file!("index.html", "text/html; charset=utf-8"),
    file!("style.css", "text/css; charset=utf-8"),
    file!("app.js", "text/javascript; charset=utf-8"),
    file!("loh-client.js", "text/javascript; charset=utf-8"),
    file!(
        "vendor/msgpack-3.1.3/msgpack.min.js",
        "text/javascript; charset=utf-8"
    ),
    file!("vendor/msgpack-3.1.3/LICENSE", "text/plain; charset=utf-8"),
    file!("vendor/README.md", "text/plain; charset=utf-8"),
];

/// The page's Content-Security-Policy: its own scripts, styles and connections only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(f) = FILES.iter().find(|f| f.path == path) else {
        return crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file")
            .into_response();
    };
    // The build's files never change while it runs: a tag of their bytes lets browsers revalidate.
    let etag = format!("\"{:016x}\"", fnv(f.bytes));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        f.bytes.into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(f.media));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// A 64-bit FNV-1a hash (the files' ETags; not a security measure).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `GET /play` and `GET /play/`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /play/{*path}`: the page's files.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_its_type_and_the_policy_and_others_are_404() {
        for f in FILES {
            let res = serve(f.path, &HeaderMap::new());
            assert_eq!(res.status(), StatusCode::OK, "{}", f.path);
            assert_eq!(res.headers()[header::CONTENT_TYPE], f.media);
            assert_eq!(res.headers()[header::CONTENT_SECURITY_POLICY], CSP);
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, res.headers()[header::ETAG].clone());
            assert_eq!(serve(f.path, &h).status(), StatusCode::NOT_MODIFIED);
        }
        assert_eq!(
            serve("../Cargo.toml", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
