//! Real-browser checks: Debian's chromium, driven by playwright-core scripts under `e2e/`
//! (installed by `scripts/test.sh`), against the real binary. What the browser did is then
//! checked from outside, at the token endpoint and with the CLI.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, alice_whois, create_client, run, temp_dir};
use latchkey_testkit::{FakeTailscaled, free_port, http_client, post_form_as};
use serde_json::{Value, json};

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// Runs `node e2e/SCRIPT ARGS`; its one line of JSON.
fn node(script: &str, args: &[&str]) -> Value {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run ./scripts/test.sh (it runs `npm ci` in e2e/ and installs chromium)"
    );
    let out = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("node is needed for the browser tests");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

/// A tsidp admin (the browser connects from 127.0.0.1, which the stand-in tailscaled names
/// as Alice with `allow_admin_ui`) manages clients through the pages; a forged cross-origin
/// post is refused even with a valid form token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsidp_admin_ui_in_chromium() {
    let fake = FakeTailscaled::start().await;
    let rule = json!({"allow_admin_ui": true});
    fake.set_peer("127.0.0.1".parse().unwrap(), alice_whois(vec![rule]));
    let dir = temp_dir("browser-admin");
    std::fs::create_dir_all(&dir).unwrap();
    let listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let srv = Server::start_tsidp(&dir, &listen, fake.socket_path());
    let base = format!("http://{listen}");

    let seen = tokio::task::spawn_blocking({
        let base = base.clone();
        move || node("tsidp_admin.mjs", &[&base])
    })
    .await
    .unwrap();

    assert_eq!(seen["heading"], "Tailnet OpenID Provider", "{seen}");
    assert_eq!(seen["issuer"], Value::from(base.as_str()));
    assert_eq!(seen["token_endpoint"], Value::from(format!("{base}/token")));
    assert!(
        seen["edit_notice"].as_str().unwrap_or_default().len() > 3,
        "{seen}"
    );
    assert_eq!(seen["forged_status"], 403, "{seen}");
    assert_ne!(seen["forged_sec_fetch_site"], "same-origin");
    assert_eq!(seen["delete_heading"], "Client deleted", "{seen}");
    let deleted = seen["deleted_id"].as_str().unwrap();
    let overview = seen["overview_after_delete"].as_str().unwrap();
    assert!(
        overview.contains("Grafana") && !overview.contains(deleted),
        "{overview}"
    );

    // From outside: the regenerated secret is the one that works.
    let kept = seen["kept_id"].as_str().unwrap();
    let http = http_client();
    let token_url = format!("{base}/token");
    let status = async |secret: &Value| {
        let secret = secret.as_str().unwrap();
        let form = [("grant_type", "client_credentials")];
        post_form_as(&http, &token_url, kept, secret, &form)
            .await
            .status()
            .as_u16()
    };
    assert_eq!(status(&seen["second_secret"]).await, 200);
    assert_eq!(status(&seen["first_secret"]).await, 401);

    // The edit reached the database; the forged client and the deleted one are not there.
    let data_dir = dir.to_str().unwrap();
    let clients = run(&["--data-dir", data_dir, "clients", "list", "--role", "tsidp"]).unwrap();
    assert_eq!(clients.len(), 1, "{clients:?}");
    assert_eq!(clients[0]["client_id"], kept);
    assert_eq!(
        clients[0]["redirect_uris"],
        json!([
            "https://grafana.example/login/generic_oauth",
            "https://grafana.example/alt"
        ])
    );

    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The engine's pages as a person meets them: an error page, the sign-out confirmation, the
/// form_post answer (sent on by script under the page's own CSP, or by a button without
/// script) and the idp's `/login`; screenshots in light, dark and at phone width go to
/// `target/screenshots/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_pages_in_chromium() {
    let fake = FakeTailscaled::start().await;
    fake.set_peer("127.0.0.1".parse().unwrap(), alice_whois(vec![]));
    let dir = temp_dir("browser-pages");
    std::fs::create_dir_all(&dir).unwrap();
    let callback_port = free_port("127.0.0.1");
    let callback = format!("http://127.0.0.1:{callback_port}/cb");
    let data_dir = dir.to_str().unwrap();
    let (client_id, _) = create_client(
        &["--data-dir", data_dir],
        "tsidp",
        "Grafana",
        &callback,
        &[],
    );
    let listen = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let base = format!("http://{listen}");
    let tsidp = Server::start_tsidp(&dir, &listen, fake.socket_path());
    let idp_dir = dir.join("idp");
    let idp = Server::start(&idp_dir, &["idp"]);
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");

    let seen = tokio::task::spawn_blocking({
        let (base, idp_base) = (base.clone(), idp.base.clone());
        let shots = shots.display().to_string();
        let port = callback_port.to_string();
        move || {
            node(
                "engine_pages.mjs",
                &[&base, &client_id, &port, &idp_base, &shots],
            )
        }
    })
    .await
    .unwrap();

    // Pages in the shared layout: the stylesheet loaded under the site's CSP.
    for page in ["error", "confirm", "form_post_page", "login"] {
        assert_eq!(seen[page]["stylesheet_applied"], "400px", "{page}: {seen}");
    }
    assert_eq!(seen["error"]["status"], 400, "{seen}");
    assert_eq!(seen["error"]["heading"], "Unknown application");
    assert_eq!(seen["confirm"]["status"], 200);
    assert_eq!(seen["confirm"]["heading"], "Sign out?");
    // The browser's own confirmation passes the same-origin check.
    assert_eq!(seen["signed_out"]["status"], 200, "{seen}");
    assert_eq!(seen["signed_out"]["sec_fetch_site"], "same-origin");
    assert_eq!(seen["signed_out"]["heading"], "Signed out");
    // form_post: the script ran under the page's CSP and the answer reached the client.
    for post in ["form_post", "form_post_noscript"] {
        let fields = &seen[post]["fields"];
        assert_eq!(seen[post]["method"], "POST", "{post}: {seen}");
        assert_eq!(fields["state"], "st-<&>\"'", "{post}: {seen}");
        assert_eq!(fields["iss"], Value::from(base.as_str()), "{post}");
        assert!(
            fields["code"].as_str().is_some_and(|c| c.len() > 20),
            "{post}"
        );
    }
    assert_eq!(seen["form_post_landed"], "Back at the app");
    assert_eq!(
        seen["console_errors"],
        json!([]),
        "no CSP violation: {seen}"
    );
    assert_eq!(seen["form_post_page"]["heading"], "Back to the application");
    assert_eq!(seen["login"]["status"], 503);
    assert_eq!(seen["screenshots"].as_array().unwrap().len(), 13);

    assert!(tsidp.stop().success());
    assert!(idp.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
