//! Forward-auth behind real web servers: Debian's nginx (`auth_request`) and Caddy
//! (`forward_auth`), each started by the test with the configuration docs/proxy.md shows
//! (kept in `tests/fixtures/`), in front of the echo upstream. The browser talks to the web
//! server and the provider only.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use latchkey_testkit::{Process, free_port};

/// How long a web server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// The provider's access token lifetime in these tests: short, so that a session's tokens
/// expire within the test and the next request refreshes them.
const TOKEN_LIFETIME: i64 = 3;

const NGINX_SITE: &str = include_str!("fixtures/nginx-forward-auth.conf");
const CADDYFILE: &str = include_str!("fixtures/Caddyfile");

/// The program's path, or a failure that says how to get it (never a silent skip).
fn program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: scripts/test.sh installs it \
                 (apt-get install {package})"
            )
        })
}

/// A directory of its own for one web server's configuration, logs and state.
fn work_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "latchkey-forward-auth-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("work directory");
    // nginx's workers (`nobody` when the test runs as root) read and write under it.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    dir
}

/// The documented snippet with the example addresses replaced by the test's: each of them
/// must be in it, so the snippet and the docs cannot drift apart unnoticed.
fn instantiate(snippet: &str, replacements: &[(&str, &str)]) -> String {
    let mut text = snippet.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "the snippet has no {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// The snippet must be in docs/proxy.md exactly as tested.
fn assert_documented(snippet: &str, fence: &str) {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/proxy.md"))
            .expect("docs/proxy.md");
    let block = format!("```{fence}\n{snippet}```");
    assert!(
        docs.contains(&block),
        "docs/proxy.md does not show tests/fixtures' {fence} snippet as it is"
    );
}

/// A web server process in front of the proxy, stopped and cleaned up when dropped.
struct Front {
    url: String,
    dir: PathBuf,
    process: Option<Process>,
    /// Where the server logs, when not to stderr.
    log: Option<PathBuf>,
    /// How to stop the server and its workers gracefully (else: killed).
    stop: Option<Command>,
}

impl Front {
    /// Waits until `port` accepts connections; fails with the server's log otherwise.
    fn wait_ready(mut self, port: u16) -> Front {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return self;
            }
            let process = self.process.as_mut().expect("running");
            if let Some(status) = process.wait_exit(Duration::from_millis(100)) {
                let stderr = process.rest_of_stderr();
                panic!(
                    "the web server exited ({status}): {stderr}\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the web server did not listen within {START_TIMEOUT:?}: {}",
                self.log_text()
            );
        }
    }

    fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| std::fs::read_to_string(log).ok())
            .unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            if let Some(stop) = self.stop.as_mut() {
                let _ = stop.status();
                p.wait_exit(Duration::from_secs(10));
            }
            // Killed here if still running.
            drop(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The port a front will listen on, and its URL (the proxy's public address).
fn front_address() -> (u16, String) {
    let port = free_port("127.0.0.1");
    (port, format!("http://127.0.0.1:{port}"))
}

fn host_port(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// The web server's program, its directory, and the documented snippet (checked to be in
/// the docs) made to listen as `listen` says, in front of `w`'s proxy and upstream.
fn prepare(
    (name, package): (&str, &str),
    (snippet, fence): (&str, &str),
    listen: (&str, &str),
    w: &World,
) -> (PathBuf, PathBuf, String) {
    let program = program(name, package);
    assert_documented(snippet, fence);
    let site = instantiate(
        snippet,
        &[
            listen,
            ("127.0.0.1:4180", host_port(&w.proxy_url)),
            ("127.0.0.1:3000", host_port(&w.upstream_url)),
        ],
    );
    (program, work_dir(name), site)
}

/// nginx with docs/proxy.md's server block, in the foreground, everything under its own
/// directory.
fn start_nginx(port: u16, w: &World) -> Front {
    let (nginx, dir, site) = prepare(
        ("nginx", "nginx-light"),
        (NGINX_SITE, "nginx"),
        ("listen 80;", &format!("listen 127.0.0.1:{port};")),
        w,
    );
    std::fs::write(dir.join("site.conf"), site).expect("site.conf");
    let d = dir.display();
    let main = format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
             access_log off;\n\
             client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             include {d}/site.conf;\n\
         }}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).expect("nginx.conf");
    let log = dir.join("error.log");
    let nginx_command = || {
        let mut c = Command::new(&nginx);
        c.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&log);
        c
    };
    let check = nginx_command().arg("-t").output().expect("nginx -t");
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let process = Process::spawn(&mut nginx_command());
    let mut stop = nginx_command();
    stop.args(["-s", "stop"]);
    Front {
        url: format!("http://127.0.0.1:{port}"),
        log: Some(log),
        dir,
        process: Some(process),
        stop: Some(stop),
    }
    .wait_ready(port)
}

/// Caddy with docs/proxy.md's Caddyfile (its site address made plain HTTP on loopback),
/// no admin endpoint, its state under its own directory.
fn start_caddy(port: u16, w: &World) -> Front {
    let (caddy, dir, site) = prepare(
        ("caddy", "caddy"),
        (CADDYFILE, "caddy"),
        ("app.example.com {", &format!("http://127.0.0.1:{port} {{")),
        w,
    );
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!("{{\n    admin off\n    auto_https off\n}}\n\n{site}"),
    )
    .expect("Caddyfile");
    let process = Process::spawn(
        Command::new(&caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data")),
    );
    Front {
        url: format!("http://127.0.0.1:{port}"),
        log: None,
        dir,
        process: Some(process),
        stop: None,
    }
    .wait_ready(port)
}

/// The proxy for forward-auth only: no upstreams, `X-Auth-Request-*` on `/oauth2/auth`.
async fn world_behind(
    front: &str,
    tweak: impl FnOnce(&mut latchkey_proxy::ProxySettings),
) -> World {
    World::start_behind(
        front,
        |op| op.access_token_lifetime = TOKEN_LIFETIME,
        |s| {
            s.upstreams = vec![];
            s.headers.set_xauthrequest = true;
            tweak(s);
        },
    )
    .await
}

/// Identity headers a client might send, hoping the app believes them.
const FORGED: [(&str, &str); 9] = [
    ("X-Auth-Request-User", "mallory"),
    ("X-Auth-Request-Email", "mallory@example.com"),
    ("X-Auth-Request-Groups", "admins"),
    ("X-Auth-Request-Preferred-Username", "mallory"),
    ("X_Auth_Request_User", "mallory"),
    ("X-Forwarded-User", "mallory"),
    ("X-Forwarded-Email", "mallory@example.com"),
    ("X-Forwarded-Groups", "admins"),
    ("X-Forwarded-For", "203.0.113.9"),
];

/// Not signed in, forged headers or not: the sign-in page at the address asked for,
/// offering to come back to it; the app is not reached.
async fn assert_sign_in_page(front: &Front, b: &Browser) {
    // The app's own `rd` parameter is the app's: the way back is the whole address.
    let r = b
        .get(&front.url("/app/page?x=1&rd=%2Felsewhere"), &FORGED)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.is_html(), "{:?}", r.headers);
    assert!(r.body.contains("Sign in with OpenID Connect"), "{}", r.body);
    assert!(r.body.contains("action=\"/oauth2/start\""), "{}", r.body);
    assert!(
        r.body
            .contains("value=\"/app/page?x=1&#38;rd=%2Felsewhere\""),
        "the way back: {}",
        r.body
    );
}

/// What the app behind the web server received: the identity from the proxy's answer
/// under `X-Auth-Request-*`, and none of the client's forged copies.
fn assert_identity(r: &Resp, path: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], path, "{}", r.body);
    assert_eq!(r.upstream_header("x-auth-request-user"), ["alice"]);
    assert_eq!(
        r.upstream_header("x-auth-request-email"),
        ["alice@example.com"]
    );
    assert_eq!(
        r.upstream_header("x-auth-request-groups"),
        ["staff,alice-team"]
    );
    for forged in [
        "x-auth-request-preferred-username",
        "x_auth_request_user",
        "x-forwarded-user",
        "x-forwarded-email",
        "x-forwarded-groups",
    ] {
        assert!(
            r.upstream_header(forged).is_empty(),
            "{forged}: {:?}",
            r.upstream_header(forged)
        );
    }
}

/// The session's tokens expire: the next request through the web server refreshes them
/// (once), the web server hands the renewed cookie to the browser, and with it the session
/// goes on without another refresh.
async fn assert_refresh_renews_the_cookie(w: &World, front: &Front, b: &Browser) {
    let before = w.tokens();
    let cookie_before = b.cookie("_oauth2_proxy").expect("signed in");
    tokio::time::sleep(Duration::from_millis(TOKEN_LIFETIME as u64 * 1000 + 1100)).await;
    let r = b.get(&front.url("/app/after"), &FORGED).await;
    assert_identity(&r, "/app/after");
    let renewed: Vec<String> = r
        .set_cookies()
        .into_iter()
        .filter(|c| c.starts_with("_oauth2_proxy="))
        .collect();
    assert_eq!(renewed.len(), 1, "{:?}", r.set_cookies());
    assert!(renewed[0].contains("HttpOnly"), "{}", renewed[0]);
    assert!(renewed[0].contains("Max-Age=604800"), "{}", renewed[0]);
    assert_ne!(b.cookie("_oauth2_proxy").unwrap(), cookie_before);
    assert_eq!(w.tokens() - before, 1, "one refresh at the provider");

    let r = b.get(&front.url("/app/again"), &[]).await;
    assert_identity(&r, "/app/again");
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    assert_eq!(w.tokens() - before, 1);
}

/// The whole way through the web server `start` starts: refused, signed in, the identity
/// to the app, the refresh, signed out.
async fn journey(start: fn(u16, &World) -> Front) {
    let (port, front_url) = front_address();
    let w = world_behind(&front_url, |_| {}).await;
    let front = start(port, &w);
    let front = &front;
    let b = Browser::new();
    // The web server's question, asked directly: 401 without a session, whatever the
    // headers say.
    let r = b.get(&front.url("/oauth2/auth"), &FORGED).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_sign_in_page(front, &b).await;

    // The sign-in page's form, through the web server; the callback comes back to it.
    let r = w
        .sign_in_at(&front.url, &b, "alice", "/app/page?x=1&y=2")
        .await;
    assert_eq!(r.status, 302, "callback: {}", r.body);
    assert_eq!(r.location(), "/app/page?x=1&y=2");
    assert!(b.cookie("_oauth2_proxy").is_some());

    let r = b.get(&front.url("/app/page?x=1&y=2"), &FORGED).await;
    assert_identity(&r, "/app/page?x=1&y=2");
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    assert_eq!(r.upstream_header("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(b.get(&front.url("/oauth2/auth"), &[]).await.status, 202);
    // A request with a body: the question goes without it, the app gets it.
    let post = reqwest::Client::new()
        .post(front.url("/app/form"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=1&b=2");
    let r = b.send(post, &FORGED).await;
    assert_identity(&r, "/app/form");
    assert_eq!(r.json()["method"], "POST");
    assert_eq!(r.upstream_header("content-length"), ["7"]);

    assert_refresh_renews_the_cookie(&w, front, &b).await;

    let r = b.get(&front.url("/oauth2/sign_out"), &[]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert!(b.cookie("_oauth2_proxy").is_none());
    assert_sign_in_page(front, &b).await;
    w.stop().await;
}

#[tokio::test]
async fn nginx_auth_request_signs_in_passes_identity_and_forwards_the_refreshed_cookie() {
    journey(start_nginx).await;
}

#[tokio::test]
async fn caddy_forward_auth_signs_in_passes_identity_and_forwards_the_refreshed_cookie() {
    journey(start_caddy).await;
}

/// With `skip_provider_button`, someone without a session goes from the app's address
/// straight to the provider, and comes back to that address signed in.
#[tokio::test]
async fn nginx_sends_straight_to_the_provider_with_skip_provider_button() {
    let (port, front_url) = front_address();
    let w = world_behind(&front_url, |s| s.skip_provider_button = true).await;
    let front = start_nginx(port, &w);
    let b = Browser::new();

    let r = b.get(&front.url("/app/page?x=1&y=2"), &FORGED).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let authorize = r.location();
    assert!(authorize.starts_with(&w.op_url), "{authorize}");
    let op = b.get(&authorize, &[(USER, "alice")]).await;
    assert_eq!(op.status, 303, "{}", op.body);
    let callback = op.location();
    assert!(
        callback.starts_with(&front.url("/oauth2/callback")),
        "{callback}"
    );
    let r = b.get(&callback, &[]).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.location(), "/app/page?x=1&y=2");
    let r = b.get(&front.url(&r.location()), &FORGED).await;
    assert_identity(&r, "/app/page?x=1&y=2");
    drop(front);
    w.stop().await;
}
