//! Real-browser checks: Debian's chromium, driven by playwright-core scripts under `e2e/`
//! (installed by `scripts/test.sh`), against the real binary. What the browser did is then
//! checked from outside, at the token endpoint and with the CLI.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, alice_whois, create_client, jwks_with, run, temp_dir, write_config};
use latchkey_testkit::{FakeTailscaled, RelyingParty, free_port, http_client, post_form_as};
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
    assert_eq!(seen["login"]["status"], 200);
    assert_eq!(seen["login"]["heading"], "Sign in");
    assert_eq!(seen["screenshots"].as_array().unwrap().len(), 13);

    assert!(tsidp.stop().success());
    assert!(idp.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The idp for people in a real browser with a virtual passkey authenticator: the first
/// administrator arrives by the setup link the server logged, registers a passkey, signs out
/// and in again with it, consents once to an application whose code `openidconnect` then
/// redeems and verifies; a second person arrives by a one-time link and is refused by an
/// application restricted to a group; deleting a passkey asks for the passkey first; a
/// cross-origin post is refused. Screenshots of every page go to `target/screenshots/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idp_people_in_chromium() {
    let dir = temp_dir("browser-idp");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    // WebAuthn needs a name: an IP address cannot be an RP ID.
    let base = format!("http://localhost:{port}");
    let callback_port = free_port("127.0.0.1");
    let callback = format!("http://127.0.0.1:{callback_port}/cb");
    let global = ["--data-dir", dir.to_str().unwrap(), "--public-url", &base];
    let (grafana, grafana_secret) = create_client(&global, "idp", "Grafana", &callback, &[]);
    let (wiki, wiki_secret) = create_client(
        &global,
        "idp",
        "Wiki",
        &callback,
        &["--allowed-group", "staff", "--skip-consent"],
    );
    let mut args = global.to_vec();
    args.extend([
        "users",
        "add",
        "bob",
        "--email",
        "bob@example.com",
        "--first-name",
        "Bob",
        "--email-verified",
    ]);
    assert_eq!(run(&args).unwrap()[0]["email_verified"], true);
    let mut args = global.to_vec();
    args.extend(["users", "login-link", "bob"]);
    let link = run(&args).unwrap()[0]["url"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{base}/lc/")), "{link}");

    // The first code is redeemed here once the whole browser script has run, which takes
    // longer than a minute on a busy machine: codes live ten minutes in this server.
    let config = write_config(&dir, "[idp]\ncode_lifetime = 600\n");
    let srv = Server::start_on(
        &dir,
        &listen,
        &["--config", &config, "--public-url", &base, "idp"],
    );
    let logged = srv.wait_for_log(|m| m.contains("/setup/"));
    let message = logged["message"].as_str().unwrap();
    let setup = message[message.find(&format!("{base}/setup/")).unwrap()..].to_owned();

    // The RSA key is made in the background on a first start; the clients sign with RS256.
    let http = http_client();
    jwks_with(&http, &base, 3).await;
    let rp = RelyingParty::new(&http, &base, &grafana, Some(&grafana_secret), &callback).await;
    let sign_in = rp.sign_in(&["email", "profile", "groups"]);
    let wiki_rp = RelyingParty::new(&http, &base, &wiki, Some(&wiki_secret), &callback).await;
    let wiki_sign_in = wiki_rp.sign_in(&["email"]);
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    // A device asks to be connected (RFC 8628); the person approves it in the browser.
    let device: Value = http
        .post(format!("{base}/device_authorization"))
        .basic_auth(&grafana, Some(&grafana_secret))
        .form(&[("scope", "openid email")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(device["user_code"].is_string(), "{device}");

    let seen = tokio::task::spawn_blocking({
        let args = [
            base.clone(),
            setup,
            sign_in.url.to_string(),
            wiki_sign_in.url.to_string(),
            link.clone(),
            callback_port.to_string(),
            shots.display().to_string(),
            device["verification_uri_complete"]
                .as_str()
                .unwrap()
                .to_owned(),
        ];
        move || {
            node(
                "idp_people.mjs",
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            )
        }
    })
    .await
    .unwrap();
    assert!(
        seen.get("error").is_none(),
        "the browser script failed: {seen}"
    );

    // The first administrator and their passkey, made in the browser.
    assert_eq!(seen["passkey_new_heading"], "Create your passkey", "{seen}");
    let creds = seen["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{seen}");
    assert_eq!(creds[0]["rpId"], "localhost");
    assert_eq!(creds[0]["resident"], true);
    let account = seen["account_text"].as_str().unwrap();
    assert!(
        account.contains("alice@example.com") && account.contains("Passkeys"),
        "{account}"
    );
    assert_eq!(seen["setup_again"]["status"], 409, "{seen}");
    // Signing in again: by autofill, which the page started by itself; then by the button.
    assert_eq!(seen["conditional_available"], true);
    assert_eq!(seen["autofill_signed_in"], true, "{seen}");
    assert_eq!(seen["button_finishes"], 1, "{seen}");
    assert_eq!(seen["signed_in_again"], true, "{seen}");

    // Consent, then the code through openidconnect: signature, nonce, claims.
    assert_eq!(
        seen["consent_heading"],
        "Allow Grafana to use your account?"
    );
    let consent = seen["consent_text"].as_str().unwrap();
    assert!(
        consent.contains("Your e-mail address") && consent.contains("The groups you belong to"),
        "{consent}"
    );
    let callbacks = seen["callbacks"].as_array().unwrap();
    assert_eq!(callbacks.len(), 3, "{seen}");
    assert_eq!(
        callbacks[0]["state"],
        Value::from(sign_in.state.secret().as_str())
    );
    assert_eq!(callbacks[0]["iss"], Value::from(base.as_str()));
    assert_eq!(callbacks[1]["state"], "again", "no second consent: {seen}");
    assert!(callbacks[1]["code"].is_string(), "{seen}");
    let code = callbacks[0]["code"].as_str().unwrap();
    let tokens = rp.redeem(code, sign_in.verifier).await;
    let id_token = tokens.extra_fields().id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.client.id_token_verifier(), &sign_in.nonce)
        .expect("the ID token verifies");
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(claims.email_verified(), Some(false));
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice Liddell")
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, ["phr"]);
    let userinfo = rp.userinfo(&tokens, claims.subject()).await;
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );

    // Bob: the link page, his passkey; the link works once; the restricted app refuses him.
    let bob = seen["bob_account"].as_str().unwrap();
    assert!(bob.contains("bob@example.com"), "{bob}");
    assert_eq!(seen["link_again"], 404, "{seen}");
    assert_eq!(seen["refused_heading"], "You cannot use Wiki");
    assert_eq!(callbacks[2]["error"], "access_denied", "{seen}");
    assert_eq!(
        callbacks[2]["state"],
        Value::from(wiki_sign_in.state.secret().as_str())
    );

    // Deleting a passkey: a fresh passkey check first; afterwards the server refuses it.
    assert!(
        seen["delete_before"]
            .as_str()
            .unwrap()
            .contains("confirm it is you"),
        "{seen}"
    );
    assert!(
        seen["account_after_delete"]
            .as_str()
            .unwrap()
            .contains("No passkeys yet"),
        "{seen}"
    );
    assert!(
        seen["unknown_passkey_status"]
            .as_str()
            .unwrap()
            .contains("not accepted"),
        "{seen}"
    );

    // A form from another origin cannot sign Alice out.
    assert_eq!(seen["cross_origin_logout"]["status"], 403, "{seen}");
    assert_eq!(seen["still_signed_in"], true);

    // The admin pages: a person and their one-time link, a group with a member and a claim,
    // a client for the group whose secret, shown once, authenticates it.
    let text = |key: &str| seen[key].as_str().unwrap_or_default().to_owned();
    assert!(text("admin_nav").contains("Clients"), "{seen}");
    assert_eq!(seen["admin_person_heading"], "Carol Ng", "{seen}");
    assert!(
        text("admin_link_text").contains("Shown only this once"),
        "{seen}"
    );
    assert_eq!(seen["carol_signed_in"], true, "{seen}");
    assert!(
        text("admin_groups_empty").contains("No groups yet"),
        "{seen}"
    );
    let group = text("admin_group_text");
    assert!(
        group.contains("carol@example.com") && group.contains("department"),
        "{group}"
    );
    let client = &seen["admin_client"];
    assert_eq!(client["heading"], "Client created", "{seen}");
    assert!(
        client["text"]
            .as_str()
            .unwrap()
            .contains("will not be shown again")
    );
    let clients = text("admin_clients_text");
    assert!(
        clients.contains("Paperless") && clients.contains("ops"),
        "{clients}"
    );
    let audit = text("audit_text");
    assert!(
        audit.contains("Added a client") && audit.contains("Signed in with a passkey"),
        "{audit}"
    );
    let logo = &seen["logo"];
    assert_eq!(logo["loaded"], true, "the uploaded logo shows: {logo}");
    let logo_path = format!("/clients/{}/logo?v=", client["id"].as_str().unwrap());
    assert!(logo["src"].as_str().unwrap().contains(&logo_path), "{logo}");
    let introspected = post_form_as(
        &http,
        &format!("{base}/introspect"),
        client["id"].as_str().unwrap(),
        client["secret"].as_str().unwrap(),
        &[("token", "not-a-token")],
    )
    .await;
    assert_eq!(introspected.status(), 200, "the shown secret works");
    let apps = text("my_apps_text");
    assert!(
        apps.contains("Grafana") && apps.contains("Revoke access"),
        "{apps}"
    );

    assert_eq!(
        seen["console_errors"],
        json!([]),
        "no CSP violation or script error: {seen}"
    );
    assert_eq!(seen["screenshots"].as_array().unwrap().len(), 66, "{seen}");
    // The device, polling, gets its tokens once the person allowed it.
    assert_eq!(
        seen["device_confirm_heading"], "Connect a device to Grafana?",
        "{seen}"
    );
    let polled: Value = http
        .post(format!("{base}/token"))
        .basic_auth(&grafana, Some(&grafana_secret))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(polled["access_token"].is_string(), "{polled}");

    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
