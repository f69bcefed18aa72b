//! A lean HTTP/1.1 client: one keep-alive connection per worker, one request in flight on it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Upper bound on connecting plus one request and its response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub type Body = Full<Bytes>;

/// Where the server listens. Only loopback addresses are ever built.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    host: HeaderValue,
}

impl Target {
    pub fn loopback(port: u16) -> Target {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header");
        Target { addr, host }
    }

    /// A request for `path_and_query` with `Host` set; add headers with
    /// [`hyper::http::request::Builder::header`] and finish with [`Target::finish`].
    pub fn request(&self, method: Method, path_and_query: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::HOST, self.host.clone())
    }

    pub fn get(&self, path_and_query: &str) -> Request<Body> {
        finish(self.request(Method::GET, path_and_query), Bytes::new())
    }
}

/// Finishes a request built by [`Target::request`]; the parts given are always valid.
pub fn finish(builder: hyper::http::request::Builder, body: Bytes) -> Request<Body> {
    builder
        .body(Full::new(body))
        .expect("request parts are valid")
}

/// A form-encoded POST body with its content type.
pub fn form(builder: hyper::http::request::Builder, body: String) -> Request<Body> {
    finish(
        builder.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        ),
        Bytes::from(body),
    )
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A short description for error reports: status and the start of the body.
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(160).collect();
        format!("status {}: {}", self.status.as_u16(), body.trim())
    }
}

/// One keep-alive connection; reconnects on the next request after a failure.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Body>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let mut conn = Conn { addr, sender: None };
        conn.sender().await?;
        Ok(conn)
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Body>, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream = timeout(REQUEST_TIMEOUT, TcpStream::connect(self.addr))
                .await
                .map_err(|_| "connect: timed out".to_owned())?
                .map_err(|e| format!("connect: {e}"))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("TCP_NODELAY: {e}"))?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                // Ends when the sender is dropped or the server closes the connection.
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("set above"))
    }

    /// Sends `req` and reads the whole response, within [`REQUEST_TIMEOUT`].
    pub async fn send(&mut self, req: Request<Body>) -> Result<Response, String> {
        let result = timeout(REQUEST_TIMEOUT, async {
            let sender = self.sender().await?;
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let response = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {REQUEST_TIMEOUT:?}")));
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes one `application/x-www-form-urlencoded` value.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The decoded value of `name` in the query of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let s = "http://127.0.0.1:9/cb?a=b c";
        assert_eq!(encode(s), "http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fa%3Db%20c");
        assert_eq!(decode(&encode(s)), s);
        assert_eq!(decode("a+b%2"), "a b%2");
    }

    #[test]
    fn query_params() {
        let url = "http://127.0.0.1:9/cb?code=abc%2Fd&state=xyz#frag";
        assert_eq!(query_param(url, "code").as_deref(), Some("abc/d"));
        assert_eq!(query_param(url, "state").as_deref(), Some("xyz"));
        assert_eq!(query_param(url, "nonce"), None);
    }
}
