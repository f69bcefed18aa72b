//! The real `latchkey` binary, driven as an operator would: CLI commands, start-up with no
//! configuration, discovery, JWKS, a token, health, metrics, graceful shutdown, restart.

mod common;

use std::path::Path;

use common::{Server, bin, temp_dir};
use serde_json::Value;

fn create_client(data_dir: &Path, alg: &str) -> (String, String) {
    let out = bin()
        .arg("--data-dir")
        .arg(data_dir)
        .args(["clients", "create", "--role", "idp", "--name", "svc"])
        .args(["--redirect-uri", "https://app.example/cb", "--alg", alg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("clients create prints JSON");
    (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn check_config_accepts_good_and_rejects_unknown_keys() {
    let dir = temp_dir("check");
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "data_dir = \"/tmp/x\"\n[idp]\npublic_url = \"https://id.example.com/\"\n",
    )
    .unwrap();
    let out = bin()
        .arg("--config")
        .arg(&good)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("https://id.example.com"), "{text}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[idp]\npublic_ulr = \"https://id.example.com\"\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&bad)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("public_ulr"));

    let out = bin()
        .env("LATCHKEY_NOPE", "1")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LATCHKEY_NOPE"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_discovery_tokens_and_survives_restart() {
    let dir = temp_dir("serve");
    let (id, secret) = create_client(&dir, "ES256");
    let server = Server::start(&dir, &["--public-url", "https://id.example.com"]);
    // The encryption key was generated into the data dir, readable by the owner only.
    let key = dir.join("encryption.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let http = reqwest::Client::new();
    let disco: Value = http
        .get(format!("{}/.well-known/openid-configuration", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(disco["issuer"], "https://id.example.com");
    assert_eq!(disco["token_endpoint"], "https://id.example.com/token");
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids.len(), 3, "one key per algorithm: {jwks}");

    let token = |base: String| {
        let http = http.clone();
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            http.post(format!("{base}/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "api")])
                .send()
                .await
                .unwrap()
        }
    };
    let resp = token(server.base.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();

    let introspect = |base: String, token: String| {
        let http = http.clone();
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            http.post(format!("{base}/introspect"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        introspect(server.base.clone(), access.clone()).await["active"],
        true
    );

    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-frame-options"], "DENY");
    let metrics = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("latchkey_tokens_issued_total"),
        "{metrics}"
    );
    // Relayed by a local proxy: not this machine asking.
    let relayed = http
        .get(format!("{}/metrics", server.base))
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), 404);

    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .arg("--listen")
        .arg(server.base.trim_start_matches("http://"))
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = server.stop();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    // Same data dir: same keys, and the token issued before still introspects.
    let server = Server::start(&dir, &["--public-url", "https://id.example.com"]);
    let jwks2: Value = http
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks, jwks2);
    assert_eq!(
        introspect(server.base.clone(), access).await["active"],
        true
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_rotate_keeps_previous_key_published() {
    let dir = temp_dir("rotate");
    let list = |dir: &Path| -> Vec<Value> {
        let out = bin()
            .arg("--data-dir")
            .arg(dir)
            .args(["keys", "list"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // A server start creates the keys; `keys rotate` on a fresh dir creates the new one only.
    let server = Server::start(&dir, &[]);
    server.stop();
    let before = list(&dir);
    assert_eq!(before.len(), 3);
    let out = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["keys", "rotate", "--alg", "ES256", "--role", "idp"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = list(&dir);
    assert_eq!(after.len(), 4);
    let es: Vec<&Value> = after.iter().filter(|k| k["alg"] == "ES256").collect();
    assert_eq!(es.len(), 2);
    assert_eq!(es.iter().filter(|k| k["current"] == true).count(), 1);
    assert!(
        es.iter()
            .any(|k| k["current"] == false && k["published_until"].is_i64())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
