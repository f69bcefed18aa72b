//! `latchkey tsidp` as shipped: the real binary asks a stand-in tailscaled who is connecting.
//! Two processes on one PostgreSQL database serve one issuer interchangeably, and what they
//! issued survives a restart.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use common::{Server, create_client, run, tailscaled_with_alice, temp_dir};
use latchkey_oidc::pkce::s256_challenge;
use latchkey_testkit::{Backend, FakeTailscaled, TestDb, whois_body};
use serde_json::Value;

const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The authorization request of client `id` at `base`, with PKCE.
fn authorize_url(base: &str, id: &str, scope: &str) -> String {
    let mut authorize = url::Url::parse(&format!("{base}/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("code_challenge", &s256_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    authorize.into()
}

/// Signs in silently as whoever `http` connects as; the authorization response's parameters.
async fn silent_code(http: &reqwest::Client, authorize: &str) -> Vec<(String, String)> {
    let r = http.get(authorize).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .expect(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tsidp_processes_on_postgres_and_a_restart() {
    let fake = tailscaled_with_alice("127.0.0.2", vec![]).await;
    let db = TestDb::new(Backend::Postgres).await;
    let dir = temp_dir("tsidp-ha");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("latchkey.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nencryption_key = \"one key for every replica, 32+ bytes\"\n\
             [tsidp]\npublic_url = \"http://tsidp.test\"\ntailscaled_socket = \"{}\"\n",
            db.url,
            fake.socket_path().display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();

    let created = create_client(
        &["--config", cfg],
        "tsidp",
        "app",
        REDIRECT,
        &["--alg", "ES256"],
    );
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    let a = Server::start(&dir.join("a"), &["--config", cfg, "tsidp"]);
    let b = Server::start(&dir.join("b"), &["--config", cfg, "tsidp"]);

    // Silent sign-in at A, from the tailnet user's address.
    let alice = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = authorize_url(&a.base, &id, "openid email");
    let response = silent_code(&alice, &authorize).await;
    let code = param(&response, "code").to_owned();
    assert_eq!(param(&response, "iss"), "http://tsidp.test");

    let http = reqwest::Client::new();
    let token = |base: String, form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            let r = http
                .post(format!("{base}/token"))
                .basic_auth(&id, Some(&secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // The code minted by A is redeemed at B.
    let (status, tokens) = token(
        b.base.clone(),
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    // ... and is spent for A too.
    let (status, again) = token(
        a.base.clone(),
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
        ],
    )
    .await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The replay revoked the grant: sign in again for the rest.
    let code = param(&silent_code(&alice, &authorize).await, "code").to_owned();
    let (status, tokens) = token(
        b.base.clone(),
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Restart A: the refresh token issued by B still works there.
    assert!(a.stop().success());
    let a = Server::start(&dir.join("a"), &["--config", cfg, "tsidp"]);
    let (status, refreshed) = token(
        a.base.clone(),
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let info: Value = http
        .get(format!("{}/userinfo", b.base))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "userid:1001");
    assert_eq!(info["email"], "alice@example.com");

    a.stop();
    b.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the binary adds around the engine for the tsidp role: the directory filled from the
/// command line enriches tailnet identities, the admin UI answers at `/` to admins only, and
/// `enable_sts` turns token exchange on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_admin_ui_and_token_exchange_in_the_binary() {
    let admin_rule = serde_json::json!({
        "allow_admin_ui": true, "users": ["*"], "resources": ["https://api.example"]
    });
    let fake = tailscaled_with_alice("127.0.0.2", vec![admin_rule]).await;
    fake.set_peer(
        "127.0.0.3".parse().unwrap(),
        whois_body(
            1002,
            "bob@example.com",
            "Bob",
            "bob-laptop",
            &["100.64.0.3"],
            vec![],
        ),
    );
    let dir = temp_dir("tsidp-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("latchkey.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[tsidp]\npublic_url = \"http://tsidp.test\"\n\
             tailscaled_socket = \"{}\"\nenable_sts = true\n",
            dir.join("data").display(),
            fake.socket_path().display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let latchkey = |args: &[&str]| {
        let mut all = vec!["--config", cfg];
        all.extend_from_slice(args);
        run(&all)
    };

    latchkey(&[
        "users",
        "add",
        "alice",
        "--email",
        "Alice@Example.com",
        "--first-name",
        "Alice",
    ])
    .unwrap();
    latchkey(&["groups", "add", "eng"]).unwrap();
    latchkey(&["groups", "add-member", "eng", "alice@example.com"]).unwrap();
    latchkey(&["groups", "set-claim", "eng", "shell", "bash"]).unwrap();
    latchkey(&["users", "set-claim", "alice", "teams", "[\"red\",\"blue\"]"]).unwrap();
    let e = latchkey(&["users", "set-claim", "alice", "email", "x@example.com"]).unwrap_err();
    assert!(e.contains("reserved"), "{e}");
    let e = latchkey(&["users", "add", "ALICE"]).unwrap_err();
    assert!(e.contains("already taken"), "{e}");
    let e = latchkey(&["groups", "add-member", "eng", "nobody"]).unwrap_err();
    assert!(e.contains("no user"), "{e}");
    let shown = latchkey(&["users", "show", "alice"]).unwrap();
    assert_eq!(shown[0]["groups"], serde_json::json!(["eng"]));
    assert_eq!(
        shown[0]["claims"],
        serde_json::json!({"shell": "bash", "teams": ["red", "blue"]})
    );
    let created = latchkey(&[
        "clients",
        "create",
        "--role",
        "tsidp",
        "--name",
        "Grafana",
        "--redirect-uri",
        REDIRECT,
    ])
    .unwrap();
    let id = created[0]["client_id"].as_str().unwrap().to_owned();
    let secret = created[0]["client_secret"].as_str().unwrap().to_owned();

    let srv = Server::start(&dir.join("data"), &["--config", cfg, "tsidp"]);
    let from = |addr: &str| {
        reqwest::Client::builder()
            .local_address(addr.parse::<std::net::IpAddr>().unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    // The admin UI: Alice's grant allows it, Bob's does not.
    let r = from("127.0.0.2")
        .get(format!("{}/", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("http://tsidp.test/token") && page.contains("Grafana"),
        "{page}"
    );
    let r = from("127.0.0.3")
        .get(format!("{}/", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("Grafana"));

    let discovery: Value = reqwest::get(format!("{}/.well-known/openid-configuration", srv.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ))
    );

    // Alice signs in silently; the directory adds her group and custom claims.
    let authorize = authorize_url(&srv.base, &id, "openid profile");
    let code = param(&silent_code(&from("127.0.0.2"), &authorize).await, "code").to_owned();
    let http = reqwest::Client::new();
    let tokens: Value = http
        .post(format!("{}/token", srv.base))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&latchkey_oidc::crypto::b64url_decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], "userid:1001");
    assert_eq!(claims["groups"], serde_json::json!(["eng"]));
    assert_eq!(claims["shell"], "bash");
    assert_eq!(claims["teams"], serde_json::json!(["red", "blue"]));

    // Token exchange for an audience Alice's grant lists.
    let exchanged: Value = http
        .post(format!("{}/token", srv.base))
        .basic_auth(&id, Some(&secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", tokens["access_token"].as_str().unwrap()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", "https://api.example"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        exchanged["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token",
        "{exchanged}"
    );

    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A test host on a tailnet-shaped network: a network namespace joined to this one by a veth
/// pair, with a 100.64.0.0/10 address on each side. Removed on drop.
struct TailnetHost {
    ns: String,
    veth: String,
}

impl TailnetHost {
    /// This side gets `local`, the namespace `remote` (both in 100.64.x.0/24).
    fn create(tag: &str, local: &str, remote: &str) -> TailnetHost {
        let ns = format!("lk{tag}{}", std::process::id());
        let veth = format!("lkh{tag}{}", std::process::id() % 100_000);
        let peer = format!("lkn{tag}{}", std::process::id() % 100_000);
        let host = TailnetHost {
            ns: ns.clone(),
            veth: veth.clone(),
        };
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("iproute2");
            assert!(
                out.status.success(),
                "ip {}: {} (network namespaces need root)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &ns]);
        ip(&["addr", "add", &format!("{local}/24"), "dev", &veth]);
        ip(&["link", "set", &veth, "up"]);
        for args in [
            vec!["addr", "add", &format!("{remote}/24"), "dev", &peer],
            vec!["link", "set", &peer, "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            let mut all = vec!["netns", "exec", &ns, "ip"];
            all.extend(args.iter().copied());
            ip(&all);
        }
        host
    }

    /// `curl` run on the host: the status and the `Location` of the answer.
    fn get(&self, url: &str) -> (u16, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-s", "-o", "/dev/null"])
            .args([
                "--max-time",
                "10",
                "-w",
                "%{http_code} %{redirect_url}",
                url,
            ])
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (status, location) = text.split_once(' ').unwrap_or((&text, ""));
        (status.parse().unwrap_or(0), location.to_owned())
    }
}

impl Drop for TailnetHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Listening on a tailnet address, as beside tailscaled without `tailscale serve`: the caller is
/// the TCP peer, a 100.64.x address of another host, and tailscaled is asked about exactly it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_from_tailnet_addresses_in_a_network_namespace() {
    let host = TailnetHost::create("a", "100.64.77.1", "100.64.77.7");
    let fake = FakeTailscaled::start().await;
    fake.set_peer(
        "100.64.77.7".parse().unwrap(),
        whois_body(
            1007,
            "dana@example.com",
            "Dana",
            "dana-pc",
            &["100.64.77.7"],
            vec![],
        ),
    );
    let dir = temp_dir("tsidp-netns");
    let port = TcpListener::bind("100.64.77.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("100.64.77.1:{port}");
    let srv = Server::start_tsidp(&dir, &listen, &fake);
    let created = create_client(
        &["--data-dir", dir.to_str().unwrap()],
        "tsidp",
        "app",
        REDIRECT,
        &[],
    );
    let id = created["client_id"].as_str().unwrap().to_owned();
    let authorize = authorize_url(&srv.base, &id, "openid email");

    let host = std::sync::Arc::new(host);
    let remote = host.clone();
    let (status, location) = tokio::task::spawn_blocking(move || remote.get(&authorize))
        .await
        .unwrap();
    assert_eq!(status, 303, "{location}");
    let location = url::Url::parse(&location).unwrap();
    assert!(
        location.query_pairs().any(|(k, _)| k == "code"),
        "{location}"
    );
    let asked: Vec<String> = fake.requests().into_iter().map(|(p, _)| p).collect();
    assert!(
        asked
            .iter()
            .any(|p| p.starts_with("/localapi/v0/whois?addr=100.64.77.7%3A")
                || p.starts_with("/localapi/v0/whois?addr=100.64.77.7:")),
        "{asked:?}"
    );

    // This machine's own address on that network is not a tailnet user.
    let r = reqwest::Client::builder()
        .local_address("100.64.77.1".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(authorize_url(&srv.base, &id, "openid"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=access_denied"), "{location}");

    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
