//! A small client for tailscaled's LocalAPI: "who is at this address?".
//!
//! tailscaled answers HTTP/1.1 on a unix socket. We ask
//! `GET /localapi/v0/whois?addr=IP:PORT` with `Host: local-tailscaled.sock`, exactly as
//! tailscale's Go client (`client/local`) does, and hand the raw JSON body
//! (an `apitype.WhoIsResponse`) to the caller, which parses it.
//!
//! Every request opens a fresh connection (tailscaled closes idle ones anyway) and runs
//! connect, request and body read under a single timeout, so a wedged tailscaled can never
//! hang a sign-in. Successful answers are cached per address for a short time; errors never are.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::header::{HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use latchkey_oidc::ttl_cache::TtlCache;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use crate::whois::WhoIs;

/// Where tailscaled listens on Linux unless told otherwise (`tailscaled --socket`).
pub const DEFAULT_SOCKET: &str = "/var/run/tailscale/tailscaled.sock";

/// The `Host` header tailscaled expects (`apitype.LocalAPIHost`); it refuses other hosts with 403.
pub const LOCALAPI_HOST: &str = "local-tailscaled.sock";

/// The `Tailscale-Cap` header value we send: the `tailcfg.CurrentCapabilityVersion` of the
/// tailscale release whose `WhoIsResponse` shape we follow (145, August 2026). The Go client
/// sends its own build's value on every LocalAPI request; tailscaled (as of that release) only
/// echoes its own value back and does not act on the client's, so older daemons accept it too.
pub const TAILSCALE_CAP: &str = "145";

/// Largest WhoIs body we accept. Real answers are a few KiB.
pub const MAX_BODY: usize = 1024 * 1024;

/// Bound on cached addresses (the engine's [`TtlCache`] evicts past it).
const MAX_CACHE_ENTRIES: usize = 4096;

/// At most this much of an error body is quoted in an error message.
const MAX_QUOTED: usize = 200;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Why a WhoIs lookup did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum LocalApiError {
    /// tailscaled knows no tailnet node at this address (404 "no match for IP:port").
    #[error("the address is not a tailnet peer")]
    NotAPeer,
    /// tailscaled rejected the address (400).
    #[error("tailscaled rejected the address: {0}")]
    BadAddress(String),
    /// tailscaled refuses to answer this process (403), or the socket cannot be opened.
    #[error("{0}")]
    Forbidden(String),
    /// tailscaled is not there or not answering: socket missing, connection refused or reset,
    /// timeout, 5xx.
    #[error("tailscaled unavailable: {0}")]
    Unavailable(String),
    /// Something answered, but not as tailscaled would: an unexpected status, a non-HTTP
    /// reply, an oversized body.
    #[error("unexpected answer from tailscaled: {0}")]
    Protocol(String),
}

/// The LocalAPI path of the Go client's `StatusWithoutPeers`.
const STATUS_PATH: &str = "/localapi/v0/status?peers=false";

/// The part of tailscaled's status (`ipnstate.Status`) that names this node on its tailnet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelfStatus {
    /// `BackendState`: `Running` once the node is logged in and connected.
    pub backend_state: String,
    /// `Self.DNSName` without its trailing dot (`host.tail1234.ts.net`); empty when unknown.
    pub dns_name: String,
    /// The tailnet's MagicDNS suffix (`tail1234.ts.net`), from `CurrentTailnet` or, for older
    /// daemons, the top-level `MagicDNSSuffix`; empty when unknown.
    pub magic_dns_suffix: String,
}

impl SelfStatus {
    /// Reads a status body; unknown and missing fields are tolerated, as in WhoIs answers.
    pub fn parse(body: &[u8]) -> Result<SelfStatus, serde_json::Error> {
        #[derive(serde::Deserialize, Default)]
        #[serde(default, rename_all = "PascalCase")]
        struct Raw {
            backend_state: Option<String>,
            #[serde(rename = "Self")]
            self_: Option<RawSelf>,
            #[serde(rename = "MagicDNSSuffix")]
            magic_dns_suffix: Option<String>,
            current_tailnet: Option<RawTailnet>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct RawSelf {
            #[serde(rename = "DNSName")]
            dns_name: Option<String>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct RawTailnet {
            #[serde(rename = "MagicDNSSuffix")]
            magic_dns_suffix: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(body)?;
        let trim = |s: Option<String>| {
            s.unwrap_or_default()
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase()
        };
        let current = raw.current_tailnet.and_then(|t| t.magic_dns_suffix);
        let suffix = match trim(current) {
            s if s.is_empty() => trim(raw.magic_dns_suffix),
            s => s,
        };
        Ok(SelfStatus {
            backend_state: raw.backend_state.unwrap_or_default(),
            dns_name: trim(raw.self_.and_then(|s| s.dns_name)),
            magic_dns_suffix: suffix,
        })
    }
}

/// A tailscaled LocalAPI client. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct LocalApi {
    socket: PathBuf,
    timeout: Duration,
    cache: TtlCache<SocketAddr, Arc<Answer>>,
}

/// A cached WhoIs answer: the body, and what it parses to once someone asked.
#[derive(Debug)]
pub(crate) struct Answer {
    pub body: Bytes,
    parsed: OnceLock<Result<WhoIs, String>>,
}

impl Answer {
    fn new(body: Bytes) -> Answer {
        Answer {
            body,
            parsed: OnceLock::new(),
        }
    }

    /// The body parsed, once for the life of the cache entry (every request from the same
    /// address would otherwise parse the same JSON again).
    pub fn whois(&self) -> Result<WhoIs, String> {
        self.parsed
            .get_or_init(|| WhoIs::parse(&self.body).map_err(|e| e.to_string()))
            .clone()
    }
}

impl LocalApi {
    /// A client for the tailscaled listening on `socket`; 3 s timeout, 5 s cache.
    pub fn new(socket: impl Into<PathBuf>) -> LocalApi {
        LocalApi {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
            cache: TtlCache::new(DEFAULT_CACHE_TTL, MAX_CACHE_ENTRIES),
        }
    }

    /// Bounds connect + request + body read of one lookup together.
    pub fn with_timeout(mut self, t: Duration) -> LocalApi {
        self.timeout = t;
        self
    }

    /// How long a successful answer is reused for the same address; zero disables the cache.
    pub fn with_cache_ttl(mut self, t: Duration) -> LocalApi {
        self.cache = TtlCache::new(t, MAX_CACHE_ENTRIES);
        self
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The raw 200 body tailscaled gives for `addr` (a JSON `apitype.WhoIsResponse`; the
    /// caller parses it). Successful answers are cached per address for the TTL; errors are
    /// not cached.
    ///
    /// IPv4-mapped IPv6 addresses (`[::ffff:100.64.0.1]:443`, as a dual-stack listener
    /// reports them) are asked about as plain IPv4, as Go's `RemoteAddr` would present them.
    pub async fn whois_raw(&self, addr: SocketAddr) -> Result<Bytes, LocalApiError> {
        Ok(self.answer(addr).await?.body.clone())
    }

    /// [`LocalApi::whois_raw`]'s answer as cached, with its parse.
    pub(crate) async fn answer(&self, addr: SocketAddr) -> Result<Arc<Answer>, LocalApiError> {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        if let Some(hit) = self.cache.get(&addr) {
            return Ok(hit);
        }
        let body = match tokio::time::timeout(self.timeout, self.fetch(addr)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(LocalApiError::Unavailable(format!(
                    "no answer from {} within {:?}",
                    self.socket.display(),
                    self.timeout
                )));
            }
        };
        let answer = Arc::new(Answer::new(body));
        self.cache.insert(addr, answer.clone());
        Ok(answer)
    }

    async fn fetch(&self, addr: SocketAddr) -> Result<Bytes, LocalApiError> {
        let (status, body) = self.get(&whois_path(addr), "WhoIs").await?;
        match status {
            StatusCode::OK => Ok(body),
            StatusCode::NOT_FOUND => Err(LocalApiError::NotAPeer),
            StatusCode::BAD_REQUEST => Err(LocalApiError::BadAddress(format!(
                "{addr}: {}",
                quote(&body)
            ))),
            s => Err(self.status_error(s, &body, "WhoIs")),
        }
    }

    /// What tailscaled knows about this node and its tailnet (`GET /localapi/v0/status?peers=false`,
    /// the Go client's `StatusWithoutPeers`), under the same timeout as a WhoIs lookup and
    /// never cached.
    pub async fn self_status(&self) -> Result<SelfStatus, LocalApiError> {
        let get = self.get(STATUS_PATH, "status");
        let (status, body) = match tokio::time::timeout(self.timeout, get).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(LocalApiError::Unavailable(format!(
                    "no answer from {} within {:?}",
                    self.socket.display(),
                    self.timeout
                )));
            }
        };
        if status != StatusCode::OK {
            return Err(self.status_error(status, &body, "status"));
        }
        SelfStatus::parse(&body).map_err(|e| {
            LocalApiError::Protocol(format!(
                "status answer from {} is not readable: {e}",
                self.socket.display()
            ))
        })
    }

    /// One GET on a fresh connection: the status and the (bounded) body.
    async fn get(&self, path: &str, what: &str) -> Result<(StatusCode, Bytes), LocalApiError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.connect_error(e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.http_error(e))?;
        // The connection must be driven while we wait for the answer; the guard stops it
        // (and closes the socket) however this future ends, timeouts included.
        let _conn = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));

        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, HeaderValue::from_static(LOCALAPI_HOST))
            .header("Tailscale-Cap", HeaderValue::from_static(TAILSCALE_CAP))
            .header(USER_AGENT, HeaderValue::from_static("latchkey-tsidp"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| LocalApiError::Protocol(format!("cannot build the request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.http_error(e))?;
        let status = response.status();
        let body = match Limited::new(response.into_body(), MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(LocalApiError::Protocol(format!(
                    "{what} answer ({status}) from {} is larger than {MAX_BODY} bytes",
                    self.socket.display()
                )));
            }
            Err(e) => match e.downcast::<hyper::Error>() {
                Ok(e) => return Err(self.http_error(*e)),
                Err(e) => {
                    return Err(LocalApiError::Unavailable(format!(
                        "reading the answer from {}: {e}",
                        self.socket.display()
                    )));
                }
            },
        };
        Ok((status, body))
    }

    /// The error for a status other than the ones the caller handles.
    fn status_error(&self, status: StatusCode, body: &[u8], what: &str) -> LocalApiError {
        let socket = self.socket.display();
        match status {
            StatusCode::FORBIDDEN => LocalApiError::Forbidden(format!(
                "tailscaled at {socket} refused the {what} request ({}); run Latchkey as root or as \
                 tailscaled's operator user (`tailscale set --operator=<user>`)",
                quote(body)
            )),
            s if s.is_server_error() => {
                LocalApiError::Unavailable(format!("{socket} answered {s}: {}", quote(body)))
            }
            s => LocalApiError::Protocol(format!("{socket} answered {s}: {}", quote(body))),
        }
    }

    fn connect_error(&self, e: io::Error) -> LocalApiError {
        let socket = self.socket.display();
        match e.kind() {
            io::ErrorKind::NotFound => LocalApiError::Unavailable(format!(
                "no socket at {socket}; is tailscaled running (and is this its --socket)?"
            )),
            io::ErrorKind::ConnectionRefused => LocalApiError::Unavailable(format!(
                "connection to {socket} refused; is tailscaled running?"
            )),
            io::ErrorKind::PermissionDenied => LocalApiError::Forbidden(format!(
                "cannot open {socket}: {e}; run Latchkey as root or as a user allowed to reach \
                 tailscaled's socket"
            )),
            _ => LocalApiError::Unavailable(format!("cannot connect to {socket}: {e}")),
        }
    }

    fn http_error(&self, e: hyper::Error) -> LocalApiError {
        let socket = self.socket.display();
        if e.is_parse() || e.is_parse_status() {
            LocalApiError::Protocol(format!("{socket} did not answer in HTTP/1.1: {e}"))
        } else {
            LocalApiError::Unavailable(format!("talking to {socket}: {e}"))
        }
    }
}

/// `/localapi/v0/whois?addr=…` with the address escaped like Go's `url.QueryEscape`
/// (so `127.0.0.2:51234` travels as `127.0.0.2%3A51234`).
fn whois_path(addr: SocketAddr) -> String {
    let mut path = String::from("/localapi/v0/whois?addr=");
    for b in addr.to_string().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                path.push(char::from(b))
            }
            _ => {
                let _ = write!(path, "%{b:02X}");
            }
        }
    }
    path
}

/// A short, single-line, printable rendering of an error body for messages.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text
        .chars()
        .take(MAX_QUOTED)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("empty body");
    }
    out
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_like_go() {
        assert_eq!(
            whois_path("127.0.0.2:51234".parse().unwrap()),
            "/localapi/v0/whois?addr=127.0.0.2%3A51234"
        );
        assert_eq!(
            whois_path("[fd7a::1]:443".parse().unwrap()),
            "/localapi/v0/whois?addr=%5Bfd7a%3A%3A1%5D%3A443"
        );
    }

    #[test]
    fn quotes_are_short_and_printable() {
        assert_eq!(quote(b"no match for IP:port\n"), "no match for IP:port");
        assert_eq!(quote(b""), "empty body");
        assert_eq!(quote(b"a\nb"), "a b");
        assert_eq!(quote(&[b'x'; 500]).chars().count(), MAX_QUOTED + 1);
    }

    #[test]
    fn status_names_this_node_and_its_tailnet() {
        let body = br#"{"Version":"1.88.0","BackendState":"Running","TailscaleIPs":["100.64.0.9"],
            "Self":{"ID":"n1","HostName":"box","DNSName":"Box.Tail1234.ts.net.","TailscaleIPs":["100.64.0.9"]},
            "MagicDNSSuffix":"tail1234.ts.net",
            "CurrentTailnet":{"Name":"example.com","MagicDNSSuffix":"tail1234.ts.net","MagicDNSEnabled":true},
            "Peer":null,"Unknown":{"x":1}}"#;
        assert_eq!(
            SelfStatus::parse(body).unwrap(),
            SelfStatus {
                backend_state: "Running".into(),
                dns_name: "box.tail1234.ts.net".into(),
                magic_dns_suffix: "tail1234.ts.net".into(),
            }
        );
        // Older daemons: no CurrentTailnet. Logged out: no Self, no suffix.
        let old = br#"{"BackendState":"Running","Self":{"DNSName":"a.b.ts.net."},"MagicDNSSuffix":"b.ts.net"}"#;
        assert_eq!(SelfStatus::parse(old).unwrap().magic_dns_suffix, "b.ts.net");
        let out = br#"{"BackendState":"NeedsLogin","Self":null,"CurrentTailnet":null}"#;
        let out = SelfStatus::parse(out).unwrap();
        assert_eq!(
            (out.dns_name.as_str(), out.magic_dns_suffix.as_str()),
            ("", "")
        );
        assert!(SelfStatus::parse(b"not json").is_err());
    }

    #[test]
    fn cache_stays_bounded() {
        let api = LocalApi::new("/nonexistent").with_cache_ttl(Duration::from_secs(60));
        for i in 0..(MAX_CACHE_ENTRIES as u32 + 10) {
            let addr = SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i), 1));
            api.cache
                .insert(addr, Arc::new(Answer::new(Bytes::from_static(b"{}"))));
        }
        assert!(api.cache.len() <= MAX_CACHE_ENTRIES, "{}", api.cache.len());
    }
}
