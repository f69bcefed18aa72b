//! `latchkey proxy` as shipped, configured with oauth2-proxy's names: the real binary in front
//! of a small echo app, signing people in with `latchkey tsidp` (which a stand-in tailscaled
//! makes sign Alice in silently), then checks of its configuration from the command line.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use common::{Server, alice_whois, bin, create_client, temp_dir};
use latchkey_testkit::{
    FakeTailscaled, Process, Served, bind_loopback, free_port, http_client_from,
};
use serde_json::{Value, json};

/// The upstream app: answers every request with what it received, as JSON.
async fn echo(req: Request) -> axum::response::Response {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let path = req.uri().path_and_query().map(|p| p.as_str().to_owned());
    axum::Json(json!({"path": path, "headers": headers})).into_response()
}

/// `latchkey` with oauth2-proxy's variables of the test's own environment removed.
fn latchkey() -> Command {
    let mut c = bin();
    for (k, _) in std::env::vars() {
        if k.starts_with("OAUTH2_PROXY_") {
            c.env_remove(k);
        }
    }
    c
}

/// Starts `latchkey proxy` on `listen`, its data in `dir`, with these arguments and variables.
fn start_proxy(dir: &Path, listen: &str, args: &[&str], env: &[(&str, &str)]) -> Process {
    let mut cmd = latchkey();
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["--log-format", "json", "proxy", "--http-address", listen])
        .args(args)
        .envs(env.iter().copied());
    let process = Process::spawn(&mut cmd);
    let serving = process.wait_for_log(|message| message == "serving");
    assert_eq!(serving["role"], "proxy", "{serving}");
    process
}

/// A browser's cookies, by name (everything here is on one host).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, resp: &reqwest::Response) {
        for c in resp.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

struct Browser {
    http: reqwest::Client,
    jar: Jar,
}

impl Browser {
    /// GET with the jar's cookies (and these headers); the answer's cookies go to the jar.
    async fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> (u16, String, Option<String>) {
        let mut req = self.http.get(url);
        if !self.jar.0.is_empty() {
            req = req.header("cookie", self.jar.header());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.jar.take(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, resp.text().await.unwrap(), location)
    }
}

fn upstream_header(body: &str, name: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["headers"][name]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// `latchkey serve` with this data directory and config file, once it is ready.
fn serve(dir: &str, config: &str) -> Process {
    let server = Process::spawn(latchkey().args([
        "--data-dir",
        dir,
        "--config",
        config,
        "--log-format",
        "json",
        "serve",
    ]));
    server.wait_for_log(|message| message == "ready");
    server
}

/// A browser on the tailnet address the stand-in tailscaled knows as Alice's.
fn alices_browser() -> Browser {
    Browser {
        http: http_client_from("127.0.0.2"),
        jar: Jar::default(),
    }
}

/// The whole sign-in: the proxy's start, tsidp (silent), the proxy's callback, back to
/// `/app/page?x=1` with a session cookie (named `cookie`).
async fn sign_in(b: &mut Browser, proxy_base: &str, tsidp_base: &str, cookie: &str) {
    let callback = format!("{proxy_base}/oauth2/callback");
    let (status, body, authorize) = b
        .get(
            &format!("{proxy_base}/oauth2/start?rd=%2Fapp%2Fpage%3Fx%3D1"),
            &[],
        )
        .await;
    assert_eq!(status, 302, "start: {body}");
    let authorize = authorize.unwrap();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", tsidp_base)),
        "{authorize}"
    );
    let (status, body, back) = b.get(&authorize, &[]).await;
    assert!(
        matches!(status, 302 | 303),
        "tsidp signs Alice in silently: {status} {body}"
    );
    let back = back.unwrap();
    assert!(back.starts_with(&callback), "{back}");
    let (status, body, target) = b.get(&back, &[]).await;
    assert_eq!(status, 302, "callback: {body}");
    assert_eq!(target.as_deref(), Some("/app/page?x=1"));
    assert!(b.jar.0.contains_key(cookie), "{:?}", b.jar.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_through_tsidp_and_the_app_sees_who() {
    let fake = FakeTailscaled::start().await;
    fake.set_peer("127.0.0.2".parse().unwrap(), alice_whois(vec![]));
    let dir = temp_dir("proxy-e2e");

    let up_listener = bind_loopback(0).await;
    let upstream = format!("http://{}/", up_listener.local_addr().unwrap());
    let app = Served::start(up_listener, Router::new().fallback(echo));

    let proxy_listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let proxy_base = format!("http://{proxy_listen}");
    let callback = format!("{proxy_base}/oauth2/callback");
    let tsidp_dir = dir.join("tsidp");
    let tsidp_dir_arg = tsidp_dir.to_str().unwrap();
    let (client_id, secret) = create_client(
        &["--data-dir", tsidp_dir_arg],
        "tsidp",
        "proxy",
        &callback,
        &[],
    );
    let tsidp_listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let tsidp = Server::start_tsidp(&tsidp_dir, &tsidp_listen, fake.socket_path());
    let metrics_listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));

    // oauth2-proxy's flags, and its variable for the upstreams.
    let mut proxy = start_proxy(
        &dir.join("proxy"),
        &proxy_listen,
        &[
            "--public-url",
            &proxy_base,
            "--oidc-issuer-url",
            &tsidp.base,
            "--client-id",
            &client_id,
            "--client-secret",
            &secret,
            "--email-domain=*",
            "--cookie-secure=false",
            "--set-xauthrequest",
            "--metrics-address",
            &metrics_listen,
        ],
        &[("OAUTH2_PROXY_UPSTREAMS", &upstream)],
    );

    // Alice's browser, on the tailnet address tailscaled knows.
    let mut b = Browser {
        http: http_client_from("127.0.0.2"),
        jar: Jar::default(),
    };
    let (status, body, _) = b.get(&format!("{proxy_base}/app/page?x=1"), &[]).await;
    assert_eq!(status, 403, "the sign-in page: {body}");
    let (status, _, _) = b.get(&format!("{proxy_base}/oauth2/auth"), &[]).await;
    assert_eq!(status, 401, "forward-auth without a session");

    sign_in(&mut b, &proxy_base, &tsidp.base, "_oauth2_proxy").await;

    // The app sees who she is; forged identity headers do not get through.
    let (status, body, _) = b
        .get(
            &format!("{proxy_base}/app/page?x=1"),
            &[
                ("X-Forwarded-User", "mallory"),
                ("X-Forwarded-Email", "m@evil.example"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(upstream_header(&body, "x-forwarded-user"), ["userid:1001"]);
    assert_eq!(
        upstream_header(&body, "x-forwarded-email"),
        ["alice@example.com"]
    );
    assert!(upstream_header(&body, "cookie").is_empty(), "{body}");

    // Forward-auth: 202 with X-Auth-Request-* (set_xauthrequest).
    let resp = b
        .http
        .get(format!("{proxy_base}/oauth2/auth"))
        .header("cookie", b.jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["x-auth-request-email"], "alice@example.com");
    assert_eq!(resp.headers()["x-auth-request-user"], "userid:1001");

    // The upstream's answer comes back as the upstream sent it: no security headers added.
    let resp = b
        .http
        .get(format!("{proxy_base}/app"))
        .header("cookie", b.jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("content-security-policy").is_none());
    assert!(resp.headers().get("x-frame-options").is_none());

    // Health paths.
    let (status, body, _) = b.get(&format!("{proxy_base}/ping"), &[]).await;
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, _, _) = b.get(&format!("{proxy_base}/ready"), &[]).await;
    assert_eq!(status, 200);

    // The proxy's traffic on oauth2-proxy's --metrics-address.
    let (status, metrics, _) = b
        .get(&format!("http://{metrics_listen}/metrics"), &[])
        .await;
    assert_eq!(status, 200);
    for outcome in ["authenticated", "unauthenticated"] {
        assert!(
            metrics.contains(&format!(
                "latchkey_proxy_requests_total{{outcome=\"{outcome}\"}}"
            )),
            "{metrics}"
        );
    }

    // Signed out: the session is gone.
    let (status, _, _) = b.get(&format!("{proxy_base}/oauth2/sign_out"), &[]).await;
    assert_eq!(status, 302);
    let (status, _, _) = b.get(&format!("{proxy_base}/oauth2/auth"), &[]).await;
    assert_eq!(status, 401);

    assert!(proxy.terminate().success(), "a clean shutdown");
    tsidp.stop();
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `latchkey serve` runs the proxy beside tsidp when `[proxy] enabled = true`: one process, two
/// listeners, the proxy signing in with its neighbour; both stop on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_proxy_beside_tsidp() {
    let fake = FakeTailscaled::start().await;
    fake.set_peer("127.0.0.2".parse().unwrap(), alice_whois(vec![]));
    let dir = temp_dir("proxy-serve");
    let dir_arg = dir.to_str().unwrap();

    let up_listener = bind_loopback(0).await;
    let upstream = format!("http://{}/", up_listener.local_addr().unwrap());
    let app = Served::start(up_listener, Router::new().fallback(echo));

    let proxy_base = format!("http://127.0.0.1:{}", free_port("127.0.0.1"));
    let tsidp_base = format!("http://127.0.0.1:{}", free_port("127.0.0.1"));
    let (client_id, secret) = create_client(
        &["--data-dir", dir_arg],
        "tsidp",
        "proxy",
        &format!("{proxy_base}/oauth2/callback"),
        &[],
    );
    let secret_file = dir.join("client-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let config = common::write_config(
        &dir,
        &format!(
            "[tsidp]\nenabled = true\nlisten = \"{tsidp}\"\npublic_url = \"{tsidp_base}\"\n\
             tailscaled_socket = \"{socket}\"\n\n\
             [proxy]\nenabled = true\nlisten = \"{proxy}\"\npublic_url = \"{proxy_base}\"\n\
             oidc_issuer_url = \"{tsidp_base}\"\nclient_id = \"{client_id}\"\n\
             client_secret_file = \"{secret_file}\"\nupstreams = [\"{upstream}\"]\n\
             email_domains = [\"example.com\"]\ncookie_secure = false\n",
            tsidp = tsidp_base.trim_start_matches("http://"),
            proxy = proxy_base.trim_start_matches("http://"),
            socket = fake.socket_path().display(),
            secret_file = secret_file.display(),
        ),
    );
    let mut server = serve(dir_arg, &config);
    let mut b = alices_browser();
    sign_in(&mut b, &proxy_base, &tsidp_base, "_oauth2_proxy").await;
    let (status, body, _) = b.get(&format!("{proxy_base}/app/page?x=1"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(upstream_header(&body, "x-forwarded-user"), ["userid:1001"]);

    assert!(server.terminate().success(), "a clean shutdown");
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `[[proxy]]` sections under `latchkey serve`, each with its own client, cookie and app:
/// a session of one is no session at the other, and the first's `[[proxy.upstream]]` rule
/// closes one path to Alice while the rest stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_several_proxies_whose_sessions_never_mix() {
    let fake = FakeTailscaled::start().await;
    fake.set_peer("127.0.0.2".parse().unwrap(), alice_whois(vec![]));
    let dir = temp_dir("proxies-serve");
    let dir_arg = dir.to_str().unwrap();

    let up_listener = bind_loopback(0).await;
    let grafana_app = format!("http://{}/", up_listener.local_addr().unwrap());
    let app = Served::start(up_listener, Router::new().fallback(echo));
    let wiki_listener = bind_loopback(0).await;
    let wiki_app = format!("http://{}/", wiki_listener.local_addr().unwrap());
    let wiki = Served::start(
        wiki_listener,
        Router::new().fallback(|| async { "the wiki" }),
    );

    let base = || format!("http://127.0.0.1:{}", free_port("127.0.0.1"));
    let (grafana_base, wiki_base, tsidp_base) = (base(), base(), base());
    let mut sections = String::new();
    for (name, proxy_base, upstream, extra) in [
        (
            "grafana",
            &grafana_base,
            &grafana_app,
            format!(
                "[[proxy.upstream]]\nurl = \"{}admin/\"\nallowed_groups = [\"admins\"]\n",
                grafana_app
            ),
        ),
        ("wiki", &wiki_base, &wiki_app, String::new()),
    ] {
        let (client_id, secret) = create_client(
            &["--data-dir", dir_arg],
            "tsidp",
            name,
            &format!("{proxy_base}/oauth2/callback"),
            &[],
        );
        sections.push_str(&format!(
            "[[proxy]]\nenabled = true\nname = \"{name}\"\nlisten = \"{listen}\"\n\
             public_url = \"{proxy_base}\"\noidc_issuer_url = \"{tsidp_base}\"\n\
             client_id = \"{client_id}\"\nclient_secret = \"{secret}\"\n\
             upstreams = [\"{upstream}\"]\nemail_domains = [\"example.com\"]\n\
             cookie_secure = false\ncookie_name = \"_{name}\"\n{extra}\n",
            listen = proxy_base.trim_start_matches("http://"),
        ));
    }
    let config = common::write_config(
        &dir,
        &format!(
            "[tsidp]\nenabled = true\nlisten = \"{tsidp}\"\npublic_url = \"{tsidp_base}\"\n\
             tailscaled_socket = \"{socket}\"\n\n{sections}",
            tsidp = tsidp_base.trim_start_matches("http://"),
            socket = fake.socket_path().display(),
        ),
    );
    let (ok, out, err) = check(&["--config", &config, "check-config"], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains("proxy grafana:") && out.contains("proxy wiki:"),
        "{out}"
    );
    let mut server = serve(dir_arg, &config);
    let mut b = alices_browser();
    sign_in(&mut b, &grafana_base, &tsidp_base, "_grafana").await;
    let (status, body, _) = b.get(&format!("{grafana_base}/app/page"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(upstream_header(&body, "x-forwarded-user"), ["userid:1001"]);
    // Alice is not in `admins`: that upstream is closed to her, the session stays.
    let (status, body, _) = b.get(&format!("{grafana_base}/admin/users"), &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(b.jar.0.contains_key("_grafana"));

    // The wiki's proxy knows nothing of that session, under either cookie name.
    let session = b.jar.0["_grafana"].clone();
    let (status, body, _) = b.get(&format!("{wiki_base}/page"), &[]).await;
    assert_eq!(status, 403, "the wiki's sign-in page: {body}");
    b.jar.0.insert("_wiki".into(), session);
    let (status, body, _) = b.get(&format!("{wiki_base}/page"), &[]).await;
    assert_eq!(status, 403, "another proxy's session is no session: {body}");
    b.jar.0.clear();
    sign_in(&mut b, &wiki_base, &tsidp_base, "_wiki").await;
    let (status, body, _) = b.get(&format!("{wiki_base}/page"), &[]).await;
    assert_eq!((status, body.as_str()), (200, "the wiki"));

    assert!(server.terminate().success(), "a clean shutdown");
    app.stop().await;
    wiki.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `latchkey ARGS` with these variables: (success, stdout, stderr).
fn check(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = latchkey()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PROVIDER: [&str; 7] = [
    "proxy",
    "--oidc-issuer-url",
    "https://idp.example.com",
    "--client-id",
    "app",
    "--client-secret",
    "s3cret",
];

#[test]
fn config_test_validates_and_errors_name_the_option() {
    let mut args = PROVIDER.to_vec();
    args.extend(["--email-domain", "example.com", "--config-test"]);
    let (ok, out, err) = check(
        &args,
        &[("OAUTH2_PROXY_UPSTREAMS", "http://127.0.0.1:3000/")],
    );
    assert!(ok, "{err}");
    assert!(out.contains("configuration is valid"), "{out}");
    assert!(
        out.contains("http://127.0.0.1:3000/"),
        "the upstream from OAUTH2_PROXY_UPSTREAMS: {out}"
    );
    assert!(!out.contains("s3cret"), "{out}");

    let mut args = PROVIDER.to_vec();
    args.extend(["--upstream", "file:///srv/www#/static/", "--config-test"]);
    let (ok, _, err) = check(&args, &[]);
    assert!(!ok);
    assert!(
        err.contains("`proxy.upstreams`") && err.contains("--upstream"),
        "{err}"
    );

    let (ok, _, err) = check(&["proxy", "--client-id", "app", "--config-test"], &[]);
    assert!(!ok);
    assert!(
        err.contains("`proxy.oidc_issuer_url`") && err.contains("--oidc-issuer-url"),
        "{err}"
    );

    // `check-config` sees the proxy enabled in a file.
    let dir = temp_dir("proxy-check");
    let file = common::write_config(
        &dir,
        "[proxy]\nenabled = true\noidc_issuer_url = \"https://idp.example.com\"\n\
         client_id = \"app\"\ncookie_expire = \"forever\"\n",
    );
    let (ok, _, err) = check(&["--config", &file, "check-config"], &[]);
    assert!(!ok);
    assert!(
        err.contains("proxy.cookie_expire") && err.contains("forever"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
