//! `latchkey tsidp` as shipped: the real binary asks a stand-in tailscaled who is connecting.
//! Two processes on one PostgreSQL database serve one issuer interchangeably, and what they
//! issued survives a restart.

mod common;

use std::time::Duration;

use common::{Server, bin, temp_dir};
use latchkey_oidc::pkce::s256_challenge;
use latchkey_testkit::{Backend, FakeTailscaled, TestDb, whois_body};
use serde_json::Value;

const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tsidp_processes_on_postgres_and_a_restart() {
    let fake = FakeTailscaled::start().await;
    fake.set_peer(
        "127.0.0.2".parse().unwrap(),
        whois_body(
            1001,
            "alice@example.com",
            "Alice",
            "alice-laptop",
            &["100.64.0.2"],
            vec![],
        ),
    );
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

    let out = bin()
        .args([
            "--config", cfg, "clients", "create", "--role", "tsidp", "--name", "app",
        ])
        .args(["--redirect-uri", REDIRECT, "--alg", "ES256"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
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
    let mut authorize = url::Url::parse(&format!("{}/authorize", a.base)).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email")
        .append_pair("code_challenge", &s256_challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    let r = alice.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    assert!(
        location
            .query_pairs()
            .any(|(k, v)| k == "iss" && v == "http://tsidp.test")
    );

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
    let r = alice.get(authorize.as_str()).send().await.unwrap();
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
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
