//! A stand-in tailscaled: answers the LocalAPI WhoIs call on a unix socket with the same
//! paths, status codes, headers and body shapes as the real daemon
//! (`ipn/localapi/localapi.go`, `serveWhoIs`), from a table the test fills in, and the status
//! call (`serveStatus`) with this node's name on its tailnet ([`FakeTailscaled::set_self`]).
//!
//! ```no_run
//! # async fn demo() {
//! use latchkey_testkit::{FakeTailscaled, whois_body};
//! let ts = FakeTailscaled::start().await;
//! ts.set_peer(
//!     "100.64.0.2".parse().unwrap(),
//!     whois_body(7, "alice@example.com", "Alice", "alice-laptop", &["100.64.0.2"], vec![]),
//! );
//! // point the client at ts.socket_path() and ask for 100.64.0.2:PORT
//! # }
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, ORIGIN, REFERER};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::{JoinHandle, JoinSet};

/// The peer capability tsidp reads its grants from.
pub const TSIDP_CAP: &str = "tailscale.com/cap/tsidp";

/// The `Host` value tailscaled accepts (besides none at all).
const LOCALAPI_HOST: &str = "local-tailscaled.sock";
const FAKE_VERSION: &str = "1.88.0-fake";
const FAKE_CAP: &str = "145";

/// A fake tailscaled listening on a unix socket in its own temporary directory.
/// Dropping it stops it and removes the directory.
pub struct FakeTailscaled {
    dir: PathBuf,
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    answers: HashMap<IpAddr, Answer>,
    requests: Vec<(String, String)>,
    delay: Duration,
    raw_reply: Option<Vec<u8>>,
    /// The `/localapi/v0/status` answer; `None`: [`status_body`] for [`DEFAULT_SELF`].
    status: Option<Answer>,
}

/// The node the stand-in is, until [`FakeTailscaled::set_self`] says otherwise.
pub const DEFAULT_SELF: &str = "latchkey-host.tail1234.ts.net";

#[derive(Clone)]
struct Answer {
    status: u16,
    body: Bytes,
}

impl FakeTailscaled {
    /// Binds a fresh socket and starts answering. Needs a tokio runtime.
    pub async fn start() -> FakeTailscaled {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "latchkey-tailscaled-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("create fake tailscaled directory");
        let socket = dir.join("tailscaled.sock");
        let listener = UnixListener::bind(&socket).expect("bind fake tailscaled socket");
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        FakeTailscaled {
            dir,
            socket,
            state,
            task: Mutex::new(Some(task)),
        }
    }

    /// The socket to point a LocalAPI client at.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Answer WhoIs for `ip` (any port) with 200 and this JSON, indented as tailscaled does.
    pub fn set_peer(&self, ip: IpAddr, body: Value) {
        self.lock().answers.insert(
            ip,
            Answer {
                status: 200,
                body: Bytes::from(indented(&body)),
            },
        );
    }

    /// Answer WhoIs for `ip` (any port) with this status and body: e.g. 403, 500, or 200 with
    /// a malformed body. A 200 body is sent verbatim as JSON; others as tailscaled's
    /// `http.Error` would (text/plain, newline appended).
    pub fn set_status(&self, ip: IpAddr, status: u16, body: &str) {
        let body = if status == 200 {
            Bytes::copy_from_slice(body.as_bytes())
        } else {
            Bytes::from(format!("{body}\n"))
        };
        self.lock().answers.insert(ip, Answer { status, body });
    }

    /// Answer `/localapi/v0/status` with this JSON (an `ipnstate.Status`, e.g. from
    /// [`status_body`]), indented as tailscaled does.
    pub fn set_self(&self, body: Value) {
        self.lock().status = Some(Answer {
            status: 200,
            body: Bytes::from(indented(&body)),
        });
    }

    /// Answer `/localapi/v0/status` with this status and body (e.g. 403, or 200 with a
    /// malformed body), as [`FakeTailscaled::set_status`] does for WhoIs.
    pub fn set_self_status(&self, status: u16, body: &str) {
        let body = if status == 200 {
            Bytes::copy_from_slice(body.as_bytes())
        } else {
            Bytes::from(format!("{body}\n"))
        };
        self.lock().status = Some(Answer { status, body });
    }

    /// Forget what was set for `ip`: it answers 404 again.
    pub fn remove_peer(&self, ip: IpAddr) {
        self.lock().answers.remove(&ip);
    }

    /// Every request received so far, as (path and query, `Host` header or "").
    pub fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Wait this long before answering each request (to test client timeouts).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Instead of HTTP, write these bytes on each new connection and close it (to test
    /// clients against something that is not tailscaled). `None` restores HTTP.
    pub fn set_raw_reply(&self, reply: Option<Vec<u8>>) {
        self.lock().raw_reply = reply;
    }

    /// Stop answering: closes the listener and every open connection, removes the socket.
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeTailscaled {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn accept_loop(listener: UnixListener, state: Arc<Mutex<State>>) {
    // Dropping the JoinSet (when this task is aborted) aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        let raw = state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .raw_reply
            .clone();
        match raw {
            Some(raw) => {
                conns.spawn(raw_reply(stream, raw));
            }
            None => {
                let state = state.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn raw_reply(mut stream: UnixStream, reply: Vec<u8>) {
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf).await;
    let _ = stream.write_all(&reply).await;
    let _ = stream.shutdown().await;
}

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let host = req
        .headers()
        .get(HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .unwrap_or_default();
    let delay = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.requests.push((path_and_query, host.clone()));
        state.delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    // ipn/localapi Handler.ServeHTTP
    if req.headers().contains_key(REFERER)
        || req.headers().contains_key(ORIGIN)
        || !(host.is_empty() || host == LOCALAPI_HOST)
    {
        return http_error(403, "invalid localapi request", false);
    }
    if req.uri().path() == "/localapi/v0/status" {
        let answer = state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .status
            .clone()
            .unwrap_or_else(|| Answer {
                status: 200,
                body: Bytes::from(indented(&status_body(DEFAULT_SELF, &["100.64.0.1"]))),
            });
        return answer_response(answer);
    }
    if req.uri().path() != "/localapi/v0/whois" {
        return http_error(404, "404 page not found", true);
    }

    // serveWhoIsWithBackend
    let addr = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "addr")
            .map(|(_, v)| v.into_owned())
    });
    let addr = match addr {
        Some(a) if !a.is_empty() => a,
        _ => return http_error(400, "missing 'addr' parameter", true),
    };
    let ip = if addr.starts_with("nodekey:") {
        None // the fake keeps no node keys: never a match
    } else if let Ok(ip) = addr.parse::<IpAddr>() {
        Some(ip)
    } else if let Ok(sa) = addr.parse::<SocketAddr>() {
        Some(sa.ip())
    } else {
        return http_error(400, "invalid 'addr' parameter", true);
    };
    let answer = ip.and_then(|ip| {
        state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .answers
            .get(&ip)
            .cloned()
    });
    let Some(answer) = answer else {
        return http_error(404, "no match for IP:port", true);
    };
    answer_response(answer)
}

/// A configured answer: JSON when 200, otherwise text as `http.Error` sends it.
fn answer_response(answer: Answer) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = tailscaled_response(status, answer.body, true);
    let content_type = if status == StatusCode::OK {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Go's `http.Error`: text/plain, nosniff, message plus newline.
fn http_error(status: u16, msg: &str, versioned: bool) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).expect("valid status");
    let mut res = tailscaled_response(status, Bytes::from(format!("{msg}\n")), versioned);
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn tailscaled_response(status: StatusCode, body: Bytes, versioned: bool) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    if versioned {
        headers.insert("Tailscale-Version", HeaderValue::from_static(FAKE_VERSION));
        headers.insert("Tailscale-Cap", HeaderValue::from_static(FAKE_CAP));
    }
    headers.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `body` as tailscaled's JSON encoder writes it (tab-indented).
fn indented(body: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    serde::Serialize::serialize(body, &mut ser).expect("serialize JSON body");
    out
}

/// A realistic `ipnstate.Status` as `/localapi/v0/status?peers=false` gives it, for a running
/// node whose MagicDNS name is `dns_name` (`host.tail1234.ts.net`, trailing dot optional): the
/// tailnet's suffix is the name after the host.
pub fn status_body(dns_name: &str, addresses: &[&str]) -> Value {
    let fqdn = dns_name.trim_end_matches('.');
    let (host, suffix) = fqdn.split_once('.').unwrap_or((fqdn, ""));
    json!({
        "Version": FAKE_VERSION,
        "TUN": true,
        "BackendState": "Running",
        "HaveNodeKey": true,
        "AuthURL": "",
        "TailscaleIPs": addresses,
        "Self": {
            "ID": "n1234567CNTRL",
            "PublicKey": format!("nodekey:{}", "ab".repeat(32)),
            "HostName": host,
            "DNSName": format!("{fqdn}."),
            "OS": "linux",
            "UserID": 1001,
            "TailscaleIPs": addresses,
            "AllowedIPs": addresses,
            "Online": true,
            "ExitNode": false,
            "ExitNodeOption": false,
            "Active": false,
            "InNetworkMap": true,
            "InMagicSock": false,
            "InEngine": false,
            "Capabilities": ["https", "funnel"],
        },
        "Health": [],
        "MagicDNSSuffix": suffix,
        "CurrentTailnet": {
            "Name": "example.com",
            "MagicDNSSuffix": suffix,
            "MagicDNSEnabled": true,
        },
        "CertDomains": [fqdn],
        "User": null,
        "ClientVersion": null,
    })
}

/// A realistic `apitype.WhoIsResponse` for a user-owned node. `node_name` may be a short
/// name (`alice-laptop`, placed in `tail1234.ts.net`) or an FQDN; `addresses` may be bare IPs
/// (given /32 or /128) or prefixes. `CapMap` carries `tailscale.com/cap/tsidp` only when
/// `cap_rules` is non-empty, as tailscaled omits an empty map.
pub fn whois_body(
    user_id: i64,
    login: &str,
    display: &str,
    node_name: &str,
    addresses: &[&str],
    cap_rules: Vec<Value>,
) -> Value {
    let user = json!({
        "ID": user_id,
        "LoginName": login,
        "DisplayName": display,
        "ProfilePicURL": format!("https://avatars.example.com/u/{user_id}.png"),
    });
    assemble(node(node_name, user_id, addresses, None), user, cap_rules)
}

/// A realistic `apitype.WhoIsResponse` for a tagged node (`Tags: ["tag:server"]`): tailscaled
/// reports the placeholder user `tagged-devices` for it.
pub fn tagged_body(node_name: &str, addresses: &[&str], cap_rules: Vec<Value>) -> Value {
    const TAGGED_USER: i64 = 7_000_000_000_000;
    let user = json!({
        "ID": TAGGED_USER,
        "LoginName": "tagged-devices",
        "DisplayName": "Tagged Devices",
    });
    assemble(
        node(node_name, TAGGED_USER, addresses, Some(&["tag:server"])),
        user,
        cap_rules,
    )
}

/// `body` with `UserProfile.Groups` set (tailscaled sends it, sorted, when control reports
/// groups; it is absent otherwise).
pub fn with_groups(mut body: Value, groups: &[&str]) -> Value {
    let mut groups: Vec<&str> = groups.to_vec();
    groups.sort_unstable();
    if let Some(profile) = body.get_mut("UserProfile").and_then(Value::as_object_mut) {
        profile.insert("Groups".into(), json!(groups));
    }
    body
}

fn assemble(node: Value, user: Value, cap_rules: Vec<Value>) -> Value {
    let mut body = json!({ "Node": node, "UserProfile": user });
    if !cap_rules.is_empty() {
        body["CapMap"] = json!({ TSIDP_CAP: cap_rules });
    }
    body
}

fn node(name: &str, user_id: i64, addresses: &[&str], tags: Option<&[&str]>) -> Value {
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else if name.contains('.') {
        format!("{name}.")
    } else {
        format!("{name}.tail1234.ts.net.")
    };
    let short = fqdn.split('.').next().unwrap_or_default().to_owned();
    let h = fnv(fqdn.as_bytes());
    let id = (h % 9_000_000_000_000) as i64 + 1_000_000_000_000;
    let hex64 = |salt: u64| {
        (0..4)
            .map(|i| format!("{:016x}", fnv(&(h ^ salt ^ i).to_le_bytes())))
            .collect::<String>()
    };
    let prefixes: Vec<String> = addresses
        .iter()
        .map(|a| {
            if a.contains('/') {
                (*a).to_owned()
            } else if a.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
                format!("{a}/128")
            } else {
                format!("{a}/32")
            }
        })
        .collect();
    let mut node = json!({
        "ID": id,
        "StableID": format!("n{:X}CNTRL", h & 0xFFFF_FFFF_FFFF),
        "Name": fqdn,
        "User": user_id,
        "Key": format!("nodekey:{}", hex64(1)),
        "KeyExpiry": "2027-03-01T12:00:00Z",
        "Machine": format!("mkey:{}", hex64(2)),
        "DiscoKey": format!("discokey:{}", hex64(3)),
        "Addresses": prefixes,
        "AllowedIPs": prefixes,
        "Endpoints": ["192.0.2.10:41641", "[2001:db8::10]:41641"],
        "HomeDERP": 1,
        "Hostinfo": {
            "IPNVersion": "1.88.0-t0123456789-gabcdef012",
            "OS": "linux",
            "OSVersion": "6.8.0",
            "Hostname": short,
        },
        "Created": "2026-01-15T09:30:00Z",
        "Cap": 145,
        "Online": true,
        "MachineAuthorized": true,
        "ComputedName": short,
        "ComputedNameWithHost": short,
    });
    if let Some(tags) = tags {
        node["Tags"] = json!(tags);
    }
    node
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
