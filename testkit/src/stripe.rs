//! A stand-in for the Stripe API on loopback, for the checkout's tests: it records every request
//! as it arrived (method, path, headers, the form fields decoded) and answers
//! `POST /v1/checkout/sessions` with a Checkout Session whose fields are the ones Stripe's own
//! answer must hold for `async-stripe` to read it, or with what the test asks for (a Stripe
//! error, no answer at all). One request per connection (`Connection: close`), plain HTTP/1.1.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The body's `application/x-www-form-urlencoded` fields, decoded, in order.
    pub form: Vec<(String, String)>,
}

/// How the server answers the next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A session (`cs_test_<n>`, URL [`FakeStripe::session_url`]).
    Session,
    /// Stripe's error body with this status.
    Error(u16),
    /// Read the request and never answer.
    Hang,
}

#[derive(Debug)]
struct Shared {
    recorded: Vec<Recorded>,
    answer: Answer,
}

/// The fake Stripe API; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct FakeStripe {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeStripe {
    /// Listens on a free loopback port, answering sessions.
    pub async fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Mutex::new(Shared {
            recorded: Vec::new(),
            answer: Answer::Session,
        }));
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, s.clone()));
            }
        });
        FakeStripe { addr, shared }
    }

    /// The API base to configure (`http://127.0.0.1:<port>`).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of the session with id `id`, as answered.
    pub fn session_url(id: &str) -> String {
        format!("https://checkout.stripe.com/c/pay/{id}")
    }

    pub fn answer(&self, answer: Answer) {
        self.shared.lock().expect("lock").answer = answer;
    }

    /// Every request so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.lock().expect("lock").recorded.clone()
    }
}

async fn serve(mut conn: TcpStream, shared: Arc<Mutex<Shared>>) {
    let Some(req) = read_request(&mut conn).await else {
        return;
    };
    let (answer, n) = {
        let mut s = shared.lock().expect("lock");
        s.recorded.push(req.clone());
        (s.answer.clone(), s.recorded.len())
    };
    let (status, body) = match answer {
        Answer::Hang => {
            // Hold the connection until the client gives up.
            let mut sink = [0u8; 64];
            while conn.read(&mut sink).await.is_ok_and(|k| k > 0) {}
            return;
        }
        Answer::Error(status) => (
            status,
            json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
                "message": "No such price: 'price_x'", "param": "line_items[0][price]"}}),
        ),
        Answer::Session if req.method == "POST" && req.path == "/v1/checkout/sessions" => {
            (200, session(&format!("cs_test_{n}"), &req.form))
        }
        Answer::Session => (
            404,
            json!({"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}),
        ),
    };
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         request-id: req_test\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// A Checkout Session as Stripe answers it: the fields `async-stripe` requires, and the ones the
/// request set.
fn session(id: &str, form: &[(String, String)]) -> Value {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Value::from(v.as_str()))
            .unwrap_or(Value::Null)
    };
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), Value::from(v.as_str())))
        })
        .collect();
    json!({
        "id": id, "object": "checkout.session", "livemode": false,
        "created": 1_780_000_000, "expires_at": 1_780_086_400,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
                        "terms_of_service_acceptance": null},
        "mode": field("mode"), "payment_status": "unpaid", "status": "open",
        "payment_method_types": ["card"], "shipping_options": [],
        "client_reference_id": field("client_reference_id"),
        "success_url": field("success_url"), "cancel_url": field("cancel_url"),
        "metadata": metadata,
        "url": FakeStripe::session_url(id),
    })
}

async fn read_request(conn: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let k = conn.read(&mut chunk).await.ok()?;
        if k == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let k = conn.read(&mut chunk).await.ok()?;
        if k == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..k]);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let form = body
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    Some(Recorded {
        method,
        path,
        headers,
        body,
        form,
    })
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space, `%XX` a byte).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_components_decode() {
        assert_eq!(
            super::decode("metadata%5Bplayer_id%5D"),
            "metadata[player_id]"
        );
        assert_eq!(super::decode("a+b%2Fc"), "a b/c");
        assert_eq!(super::decode("100%"), "100%");
    }
}
