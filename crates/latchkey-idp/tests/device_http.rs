//! The device authorization grant (RFC 8628) over HTTP, as a device, a browser and a person
//! with a software authenticator see it: the device asks for a code and polls; the person
//! signs in with a passkey, types the code at `/device` and allows or denies. Every test runs
//! on SQLite and on PostgreSQL.

mod common;
mod passkey_support;

use common::*;
use latchkey_oidc::clients::{NewClient, create_client};
use latchkey_oidc::jose::Alg;
use latchkey_store::{ClientId, DeviceCode, DeviceStatus, unix_now};
use latchkey_testkit::{RelyingParty, basic, get_json};
use openidconnect::core::{CoreDeviceAuthorizationResponse, CoreTokenResponse};
use openidconnect::{DeviceAuthorizationUrl, Nonce, Scope};
use passkey_support::Browser;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device of client `id` (secret `secret`), as RFC 8628 describes it.
struct Device<'a> {
    h: &'a Harness,
    id: String,
    secret: String,
}

impl Device<'_> {
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .h
            .http
            .post(self.h.url(path))
            .header(AUTHORIZATION, basic(&self.id, &self.secret))
            .form(form);
        self.h.send(&mut Jar::default(), req).await
    }

    /// `/device_authorization`: the device code and the user code.
    async fn start(&self, scope: &str) -> (String, String) {
        let r = self
            .post("/device_authorization", &[("scope", scope)])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["verification_uri"], Value::from(self.h.url("/device")));
        assert_eq!(v["interval"], 5);
        assert_eq!(v["expires_in"], 900);
        (
            v["device_code"].as_str().unwrap().to_owned(),
            v["user_code"].as_str().unwrap().to_owned(),
        )
    }

    async fn poll(&self, device_code: &str) -> Answer {
        self.post(
            "/token",
            &[("grant_type", GRANT), ("device_code", device_code)],
        )
        .await
    }

    async fn poll_error(&self, device_code: &str) -> String {
        let r = self.poll(device_code).await;
        assert_eq!(r.status, 400, "{}", r.body);
        r.json()["error"].as_str().unwrap().to_owned()
    }
}

impl Harness {
    /// The first administrator (alice) with a passkey: the browser holding it.
    async fn alice_with_passkey(&self) -> Browser {
        let link = latchkey_idp::links::setup_link_if_needed(&self.store, &idp_id(), &self.base)
            .await
            .unwrap()
            .expect("no administrator yet");
        let path = link.strip_prefix(&self.base).unwrap().to_owned();
        let mut jar = Jar::default();
        let form = [
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("first_name", "Alice"),
            ("last_name", "Liddell"),
        ];
        let made = self.post_form(&mut jar, &path, &form).await;
        assert_eq!(made.status, 303, "{}", made.body);
        let started = self
            .post_json(&mut jar, "/api/webauthn/register/start", b"")
            .await;
        assert_eq!(started.status, 200, "{}", started.body);
        let mut browser = Browser::new(&self.base);
        let response = browser.create(&started.json()).await.unwrap();
        let done = self
            .post_json(&mut jar, "/api/webauthn/register/finish", &response)
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        browser
    }

    /// Signs in with the browser's passkey, for `return_to`; the redirect the page is given.
    async fn sign_in(&self, jar: &mut Jar, browser: &mut Browser, return_to: &str) -> Value {
        let started = self.post_json(jar, "/api/webauthn/login/start", b"").await;
        assert_eq!(started.status, 200, "{}", started.body);
        let assertion = browser.get(&started.json()).await.unwrap();
        let finish = format!(
            "/api/webauthn/login/finish?return_to={}",
            url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
        );
        let done = self.post_json(jar, &finish, &assertion).await;
        assert_eq!(done.status, 200, "{}", done.body);
        done.json()["redirect"].clone()
    }

    async fn device(&self, metadata: Value) -> Device<'_> {
        let new = NewClient {
            name: "Living-room TV".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: Alg::ES256,
            metadata,
        };
        let made = create_client(&self.store, &idp_id(), new).await.unwrap();
        Device {
            h: self,
            id: made.client.id.0,
            secret: made.secret.unwrap(),
        }
    }

    /// The person of `jar` enters `code` at /device: the confirmation page (or whatever came).
    async fn enter(&self, jar: &mut Jar, code: &str) -> Answer {
        self.post_form(jar, "/device", &[("user_code", code)]).await
    }

    /// Enters `code` and answers with the confirmation page's form.
    async fn decide(&self, jar: &mut Jar, code: &str, decision: &str) -> Answer {
        let page = self.enter(jar, code).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (csrf, user_code) = (page.field("csrf_token"), page.field("user_code"));
        let form = [
            ("csrf_token", csrf.as_str()),
            ("user_code", user_code.as_str()),
            ("decision", decision),
        ];
        self.post_form(jar, "/device", &form).await
    }
}

/// Device asks → polls (pending) → the person signs in with a passkey, types the code (lower
/// case, with its dash), checks what the device will see and allows → the device's next poll
/// gets tokens (the ID token verified by `openidconnect`) → a second poll gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_connects_a_device() {
    on_each_backend(|h| async move {
        let mut browser = h.alice_with_passkey().await;
        let alice = h
            .store
            .find_user_by_username("alice")
            .await
            .unwrap()
            .unwrap();
        let tv = h.device(json!({})).await;
        let (device_code, user_code) = tv.start("openid email profile").await;
        assert_eq!(tv.poll_error(&device_code).await, "authorization_pending");

        // The link the device shows fills the code in; nothing happens before a post.
        let mut jar = Jar::default();
        let complete = format!("/device?user_code={user_code}");
        let page = h.get(&mut jar, &complete).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.field("user_code"), user_code);
        // Not signed in: to the sign-in page, then back here with the code.
        let typed = user_code.to_lowercase();
        let asked = h.enter(&mut jar, &typed).await;
        assert_eq!(asked.status, 303);
        let login = url::Url::parse(&h.url(asked.location.as_deref().unwrap())).unwrap();
        assert_eq!(login.path(), "/login");
        let return_to = login
            .query_pairs()
            .find(|(k, _)| k == "return_to")
            .unwrap()
            .1
            .into_owned();
        assert_eq!(return_to, format!("/device?user_code={typed}"));
        assert_eq!(
            h.sign_in(&mut jar, &mut browser, &return_to).await,
            Value::from(return_to.as_str())
        );
        assert_eq!(h.get(&mut jar, &return_to).await.field("user_code"), typed);

        // The confirmation names the application, the code and what it will see.
        let confirm = h.enter(&mut jar, &typed).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        for text in [
            "Connect a device to Living-room TV?",
            user_code.as_str(),
            "Your e-mail address",
            "Your name, username and profile details",
        ] {
            assert!(confirm.body.contains(text), "{text}: {}", confirm.body);
        }
        // A made-up form token is refused, and decides nothing.
        let forged = h
            .post_form(
                &mut jar,
                "/device",
                &[
                    ("csrf_token", "x"),
                    ("user_code", &typed),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(forged.status, 403);
        let allowed = h.decide(&mut jar, &typed, "allow").await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        assert!(allowed.body.contains("You can go back to your device"));

        let tokens = tv.poll(&device_code).await;
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        let tokens = tokens.json();
        assert!(tokens["refresh_token"].is_string());
        assert_eq!(tokens["scope"], "openid email profile");
        // The answer as openidconnect reads a token response, the ID token checked by it.
        let rp = RelyingParty::new(&h.http, &h.base, &tv.id, Some(&tv.secret), REDIRECT).await;
        let response: CoreTokenResponse = serde_json::from_value(tokens.clone()).unwrap();
        let id_token = response.extra_fields().id_token().unwrap();
        let claims = id_token
            .claims(&rp.client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
            .unwrap();
        assert_eq!(claims.subject().as_str(), alice.id.as_str());
        assert_eq!(claims.email().unwrap().as_str(), "alice@example.com");
        let amr: Vec<&str> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(amr, ["phr"]);
        let userinfo = rp.userinfo(&response, claims.subject()).await;
        assert_eq!(userinfo.email().unwrap().as_str(), "alice@example.com");

        // Redeemed once; the code no longer works on the page either.
        assert_eq!(tv.poll_error(&device_code).await, "invalid_grant");
        let again = h.enter(&mut jar, &typed).await;
        assert_eq!(again.status, 400);
        assert!(
            again.body.contains("This code is not valid"),
            "{}",
            again.body
        );
    })
    .await;
}

/// Polling too fast, declining, expiry, a person outside the client's allowed groups, wrong
/// codes and then too many of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    on_each_backend(|h| async move {
        let mut browser = h.alice_with_passkey().await;
        let mut jar = Jar::default();
        h.sign_in(&mut jar, &mut browser, "/device").await;
        let tv = h.device(json!({})).await;

        // Too fast: slow_down.
        let (fast, _) = tv.start("openid").await;
        assert_eq!(tv.poll_error(&fast).await, "authorization_pending");
        assert_eq!(tv.poll_error(&fast).await, "slow_down");

        // Declined.
        let (device_code, user_code) = tv.start("openid").await;
        let denied = h.decide(&mut jar, &user_code, "deny").await;
        assert_eq!(denied.status, 200, "{}", denied.body);
        assert!(
            denied.body.contains("Device not connected"),
            "{}",
            denied.body
        );
        assert_eq!(tv.poll_error(&device_code).await, "access_denied");
        assert_eq!(tv.poll_error(&device_code).await, "invalid_grant");

        // Expired: the device is told, the page does not know the code.
        let now = unix_now();
        h.store
            .create_device_code(&DeviceCode {
                device_code_hash: latchkey_oidc::crypto::sha256_hex(b"an-old-device-code"),
                issuer: idp_id(),
                user_code: "QRSTVWXZ".into(),
                client_id: ClientId::from(tv.id.as_str()),
                scope: "openid".into(),
                created_at: now - 1000,
                expires_at: now - 100,
                interval: 5,
                last_polled_at: None,
                status: DeviceStatus::Pending,
                subject: None,
                auth_time: None,
                amr: vec![],
                snapshot: None,
            })
            .await
            .unwrap();
        assert_eq!(tv.poll_error("an-old-device-code").await, "expired_token");
        let page = h.enter(&mut jar, "qrst-vwxz").await;
        assert_eq!(page.status, 400);
        assert!(
            page.body
                .contains("This code is not valid, or it has expired")
        );

        // A client for the admins group only: alice is not in it.
        let closed = h.device(json!({"allowed_groups": ["admins"]})).await;
        let (device_code, user_code) = closed.start("openid").await;
        let refused = h.enter(&mut jar, &user_code).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("You cannot use Living-room TV"));
        assert_eq!(closed.poll_error(&device_code).await, "access_denied");

        // Wrong codes: a sentence, then 429 with Retry-After.
        let wrong = h.enter(&mut jar, "BCDF-GHJK").await;
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("This code is not valid"));
        assert_eq!(h.enter(&mut jar, "not a code").await.status, 400);
        let mut limited = None;
        for _ in 0..12 {
            let r = h.enter(&mut jar, "BCDF-GHJK").await;
            if r.status == 429 {
                limited = Some(r);
                break;
            }
            assert_eq!(r.status, 400);
        }
        let limited = limited.expect("wrong codes are rate-limited");
        assert!(limited.retry_after.unwrap().parse::<u64>().unwrap() >= 1);
        // A real code now waits too.
        let (_, user_code) = tv.start("openid").await;
        assert_eq!(h.enter(&mut jar, &user_code).await.status, 429);
    })
    .await;
}

/// `openidconnect` as the device (an independent RFC 8628 client): it reads the device
/// authorization answer and polls on its own, too fast on purpose, so it must understand
/// `authorization_pending` and `slow_down`; meanwhile the person allows; the tokens it gets
/// carry an ID token it verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_device_client() {
    on_each_backend(|h| async move {
        let mut browser = h.alice_with_passkey().await;
        let mut jar = Jar::default();
        h.sign_in(&mut jar, &mut browser, "/device").await;
        let tv = h.device(json!({})).await;
        let discovery = get_json(&h.http, &h.url("/.well-known/openid-configuration"), None).await;
        let endpoint = discovery["device_authorization_endpoint"].as_str().unwrap();
        assert_eq!(endpoint, h.url("/device_authorization"));
        let rp = RelyingParty::new(&h.http, &h.base, &tv.id, Some(&tv.secret), REDIRECT).await;
        let client = rp
            .client
            .clone()
            .set_device_authorization_url(DeviceAuthorizationUrl::new(endpoint.into()).unwrap());
        let details: CoreDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(Scope::new("email".into()))
            .request_async(&h.http)
            .await
            .unwrap();
        assert_eq!(details.verification_uri().as_str(), h.url("/device"));
        let user_code = details.user_code().secret().clone();
        assert_eq!(
            details.verification_uri_complete().unwrap().secret(),
            &format!("{}?user_code={user_code}", h.url("/device"))
        );

        let waits = std::sync::Mutex::new(Vec::new());
        let poller = client
            .exchange_device_access_token(&details)
            .unwrap()
            .request_async(
                &h.http,
                |wait| {
                    waits.lock().unwrap().push(wait.as_secs());
                    tokio::time::sleep(std::time::Duration::from_millis(150))
                },
                None,
            );
        let person = async {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            let allowed = h.decide(&mut jar, &user_code, "allow").await;
            assert_eq!(allowed.status, 200, "{}", allowed.body);
        };
        let (tokens, ()) = tokio::join!(poller, person);
        let tokens = tokens.unwrap();
        let waits = waits.into_inner().unwrap();
        assert!(waits.len() >= 2, "{waits:?}");
        assert_eq!(waits[..2], [5, 10], "pending, then slow_down: {waits:?}");
        let claims = tokens
            .extra_fields()
            .id_token()
            .unwrap()
            .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
            .unwrap();
        assert_eq!(claims.email().unwrap().as_str(), "alice@example.com");
    })
    .await;
}
