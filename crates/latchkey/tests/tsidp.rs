//! `latchkey tsidp` as shipped: the real binary asks a stand-in tailscaled who is connecting.
//! Two processes on one PostgreSQL database serve one issuer interchangeably, and what they
//! issued survives a restart.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use common::{Server, alice_whois, create_client, run, temp_dir, write_config};
use latchkey_testkit::{
    ACCESS_TOKEN_TYPE, Backend, FakeTailscaled, Pkce, TestDb, authorization_response,
    authorize_url, code_grant, free_port, get_json, http_client, http_client_from, jwt_claims,
    post_form_json, token_exchange, whois_body,
};
use serde_json::Value;

const REDIRECT: &str = "https://app.example/cb";

/// Signs in silently as whoever `http` connects as: the authorization response's parameters.
async fn silent_sign_in(http: &reqwest::Client, authorize: &str) -> HashMap<String, String> {
    authorization_response(http.get(authorize), REDIRECT)
        .await
        .unwrap_or_else(|(status, body)| panic!("no redirect to the client: {status} {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tsidp_processes_on_postgres_and_a_restart() {
    let fake = FakeTailscaled::start().await;
    fake.set_peer("127.0.0.2".parse().unwrap(), alice_whois(vec![]));
    let db = TestDb::new(Backend::Postgres).await;
    let dir = temp_dir("tsidp-ha");
    let cfg = &write_config(
        &dir,
        &format!(
            "database_url = \"{}\"\nencryption_key = \"one key for every replica, 32+ bytes\"\n\
             [tsidp]\npublic_url = \"http://tsidp.test\"\ntailscaled_socket = \"{}\"\n",
            db.url,
            fake.socket_path().display()
        ),
    );

    let global = ["--config", cfg];
    let (id, secret) = create_client(&global, "tsidp", "app", REDIRECT, &["--alg", "ES256"]);

    let a = Server::start(&dir.join("a"), &["--config", cfg, "tsidp"]);
    let b = Server::start(&dir.join("b"), &["--config", cfg, "tsidp"]);

    // Silent sign-in at A, from the tailnet user's address.
    let alice = http_client_from("127.0.0.2");
    let pkce = Pkce::new();
    let authorize = authorize_url(&a.base, &id, REDIRECT, "openid email", &pkce, &[]);
    let response = silent_sign_in(&alice, &authorize).await;
    let code = &response["code"];
    assert_eq!(response["iss"], "http://tsidp.test");

    let http = http_client();
    let token = async |base: &str, form: &[(&str, String)]| {
        post_form_json(&http, &format!("{base}/token"), &id, &secret, form).await
    };
    // The code minted by A is redeemed at B.
    let (status, tokens) = token(&b.base, &code_grant(code, REDIRECT, &pkce)).await;
    assert_eq!(status, 200, "{tokens}");
    // ... and is spent for A too.
    let (status, again) = token(&a.base, &code_grant(code, REDIRECT, &pkce)).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The replay revoked the grant: sign in again for the rest.
    let code = &silent_sign_in(&alice, &authorize).await["code"];
    let (status, tokens) = token(&b.base, &code_grant(code, REDIRECT, &pkce)).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Restart A: the refresh token issued by B still works there.
    assert!(a.stop().success());
    let a = Server::start(&dir.join("a"), &["--config", cfg, "tsidp"]);
    let (status, refreshed) = token(
        &a.base,
        &[
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str();
    let info = get_json(&http, &format!("{}/userinfo", b.base), access).await;
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
    let fake = FakeTailscaled::start().await;
    let admin_rule = serde_json::json!({
        "allow_admin_ui": true, "users": ["*"], "resources": ["https://api.example"]
    });
    fake.set_peer("127.0.0.2".parse().unwrap(), alice_whois(vec![admin_rule]));
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
    let cfg = &write_config(
        &dir,
        &format!(
            "data_dir = \"{}\"\n[tsidp]\npublic_url = \"http://tsidp.test\"\n\
             tailscaled_socket = \"{}\"\nenable_sts = true\n",
            dir.join("data").display(),
            fake.socket_path().display()
        ),
    );
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
    let (id, secret) = create_client(&["--config", cfg], "tsidp", "Grafana", REDIRECT, &[]);

    let srv = Server::start(&dir.join("data"), &["--config", cfg, "tsidp"]);
    // The admin UI: Alice's grant allows it, Bob's does not.
    let admin_ui = async |addr: &str| {
        let overview = http_client_from(addr).get(format!("{}/", srv.base));
        overview.send().await.unwrap()
    };
    let r = admin_ui("127.0.0.2").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("http://tsidp.test/token") && page.contains("Grafana"),
        "{page}"
    );
    let r = admin_ui("127.0.0.3").await;
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("Grafana"));

    let http = http_client();
    let url = format!("{}/.well-known/openid-configuration", srv.base);
    let discovery = get_json(&http, &url, None).await;
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from(
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ))
    );

    // Alice signs in silently; the directory adds her group and custom claims.
    let pkce = Pkce::new();
    let authorize = authorize_url(&srv.base, &id, REDIRECT, "openid profile", &pkce, &[]);
    let alice = http_client_from("127.0.0.2");
    let code = &silent_sign_in(&alice, &authorize).await["code"];
    let token_url = format!("{}/token", srv.base);
    let form = code_grant(code, REDIRECT, &pkce);
    let (status, tokens) = post_form_json(&http, &token_url, &id, &secret, &form).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().expect("an ID token"));
    assert_eq!(claims["sub"], "userid:1001");
    assert_eq!(claims["groups"], serde_json::json!(["eng"]));
    assert_eq!(claims["shell"], "bash");
    assert_eq!(claims["teams"], serde_json::json!(["red", "blue"]));

    // Token exchange for an audience Alice's grant lists.
    let access = tokens["access_token"].as_str().unwrap();
    let exchange = token_exchange(access, &[("audience", "https://api.example")]);
    let (_, exchanged) = post_form_json(&http, &token_url, &id, &secret, &exchange).await;
    assert_eq!(
        exchanged["issued_token_type"], ACCESS_TOKEN_TYPE,
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
    let listen = format!("100.64.77.1:{}", free_port("100.64.77.1"));
    let srv = Server::start_tsidp(&dir, &listen, fake.socket_path());
    let global = ["--data-dir", dir.to_str().unwrap()];
    let (id, _) = create_client(&global, "tsidp", "app", REDIRECT, &[]);
    let pkce = Pkce::new();
    let authorize = authorize_url(&srv.base, &id, REDIRECT, "openid email", &pkce, &[]);

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
    let r = http_client_from("100.64.77.1")
        .get(authorize_url(
            &srv.base,
            &id,
            REDIRECT,
            "openid",
            &pkce,
            &[],
        ))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=access_denied"), "{location}");

    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
