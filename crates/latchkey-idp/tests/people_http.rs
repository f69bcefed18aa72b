//! The idp role over HTTP, as a browser and a client see it, with a software authenticator:
//! the setup link, passkey registration and sign-in through the WebAuthn JSON routes, the
//! session, consent, allowed groups, one-time links, WebFinger. Every test runs on SQLite and
//! on PostgreSQL.

mod common;
mod passkey_support;

use common::*;
use latchkey_oidc::clients::{NewClient, create_client};
use latchkey_oidc::crypto::b64url;
use latchkey_oidc::jose::Alg;
use latchkey_store::{LinkPurpose, User, unix_now};
use latchkey_testkit::{Pkce, RelyingParty, authorize_url, get_json, post_form_json};
use passkey_support::Browser;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

impl Harness {
    /// The setup link's path, then the first administrator made with it: their cookies.
    async fn first_admin(&self) -> Jar {
        let link = latchkey_idp::links::setup_link_if_needed(&self.store, &idp_id(), &self.base)
            .await
            .unwrap()
            .expect("no administrator yet");
        let path = link.strip_prefix(&self.base).unwrap().to_owned();
        let mut jar = Jar::default();
        assert_eq!(self.get(&mut jar, &path).await.status, 200);
        let form = [
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("first_name", "Alice"),
            ("last_name", "Liddell"),
        ];
        let made = self.post_form(&mut jar, &path, &form).await;
        assert_eq!(made.status, 303, "{}", made.body);
        assert_eq!(made.location.as_deref(), Some("/account/passkeys/new"));
        assert!(jar.0.contains_key("latchkey_session"));
        // The link is spent, and there is an administrator now.
        assert_eq!(
            self.post_form(&mut Jar::default(), &path, &form)
                .await
                .status,
            409
        );
        assert!(
            latchkey_idp::links::setup_link_if_needed(&self.store, &idp_id(), &self.base)
                .await
                .unwrap()
                .is_none()
        );
        jar
    }

    /// Registers a passkey for the signed-in person of `jar`.
    async fn register(&self, jar: &mut Jar, browser: &mut Browser) -> Answer {
        let started = self
            .post_json(jar, "/api/webauthn/register/start", b"")
            .await;
        assert_eq!(started.status, 200, "{}", started.body);
        let response = browser.create(&started.json()).await.unwrap();
        self.post_json(jar, "/api/webauthn/register/finish", &response)
            .await
    }

    /// Signs in with the browser's passkey: the finish answer and the assertion sent.
    async fn sign_in(
        &self,
        jar: &mut Jar,
        browser: &mut Browser,
        return_to: Option<&str>,
    ) -> (Answer, Vec<u8>) {
        let started = self.post_json(jar, "/api/webauthn/login/start", b"").await;
        assert_eq!(started.status, 200, "{}", started.body);
        let options = started.json();
        assert!(
            options["publicKey"].get("allowCredentials").is_none(),
            "usernameless: {options}"
        );
        let assertion = browser.get(&options).await.unwrap();
        let finish = match return_to {
            Some(to) => format!("/api/webauthn/login/finish?return_to={}", urlencode(to)),
            None => "/api/webauthn/login/finish".to_owned(),
        };
        (self.post_json(jar, &finish, &assertion).await, assertion)
    }

    async fn alice(&self) -> User {
        self.store
            .find_user_by_username("alice")
            .await
            .unwrap()
            .unwrap()
    }

    async fn client(&self, metadata: Value) -> (String, String) {
        let new = NewClient {
            name: "Grafana".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: Alg::ES256,
            metadata,
        };
        let made = create_client(&self.store, &idp_id(), new).await.unwrap();
        (made.client.id.0, made.secret.unwrap())
    }
}

/// Setup link → first passkey (options as Pocket ID's) → usernameless sign-in → a code flow
/// through `openidconnect` with the directory's claims; ceremonies work once; a disabled
/// account cannot sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_setup_link_to_tokens() {
    on_each_backend(|h| async move {
        let mut jar = h.first_admin().await;
        let alice = h.alice().await;
        assert!(alice.is_admin);

        // Registration options, then the passkey.
        let started = h
            .post_json(&mut jar, "/api/webauthn/register/start", b"")
            .await;
        let pk = &started.json()["publicKey"];
        assert_eq!(pk["rp"]["id"], "localhost");
        assert_eq!(
            pk["user"]["id"],
            Value::from(b64url(alice.id.as_str().as_bytes()))
        );
        assert_eq!(pk["user"]["name"], "alice");
        assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(pk["attestation"], "none");
        assert_eq!(pk["timeout"], 60000);
        assert_eq!(pk["extensions"]["credProps"], true);
        let mut browser = Browser::new(&h.base);
        let response = browser.create(&started.json()).await.unwrap();
        let stale = jar.clone();
        let done = h
            .post_json(&mut jar, "/api/webauthn/register/finish", &response)
            .await;
        assert_eq!(
            (done.status, done.json()["redirect"].clone()),
            (200, json!("/account")),
            "{}",
            done.body
        );
        // The same ceremony again: refused.
        let again = h
            .post_json(
                &mut stale.clone(),
                "/api/webauthn/register/finish",
                &response,
            )
            .await;
        assert_eq!(
            (again.status, again.json()["code"].clone()),
            (400, json!("invalid_webauthn_session"))
        );
        let passkeys = h.store.list_passkeys(&alice.id).await.unwrap();
        assert_eq!(passkeys.len(), 1);
        assert_eq!(passkeys[0].last_used_at, None);

        // The directory: a group and custom claims.
        let group = latchkey_idp::directory::new_group("staff", None).unwrap();
        h.store.create_group(&group).await.unwrap();
        h.store
            .create_group_member(&group.id, &alice.id)
            .await
            .unwrap();
        h.store
            .update_group_claim(&group.id, "department", &json!("research"))
            .await
            .unwrap();
        h.store
            .update_user_claim(&alice.id, "shell", &json!("/bin/zsh"))
            .await
            .unwrap();

        // A client's sign-in: first sent to /login, then the passkey, then the code.
        let (client_id, secret) = h.client(json!({"skip_consent": true})).await;
        let rp = RelyingParty::new(&h.http, &h.base, &client_id, Some(&secret), REDIRECT).await;
        let sign_in = rp.sign_in(&["email", "profile", "groups"]);
        let mut fresh = Jar::default();
        let asked = h.get(&mut fresh, sign_in.url.as_str()).await;
        assert_eq!(asked.status, 303);
        let login = asked.location.unwrap();
        let resume = query(&login)["return_to"].clone();
        assert!(
            resume.starts_with(&format!("{}/authorize?", h.base)),
            "{resume}"
        );
        let (done, assertion) = h.sign_in(&mut fresh, &mut browser, Some(&resume)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(done.json()["redirect"], Value::from(resume.as_str()));
        let back = h.get(&mut fresh, &resume).await;
        let answer = query(back.location.as_deref().unwrap());
        assert_eq!(answer["state"], *sign_in.state.secret());
        let tokens = rp.redeem(&answer["code"], sign_in.verifier).await;
        let id_token = tokens.extra_fields().id_token().unwrap();
        let claims = id_token
            .claims(&rp.client.id_token_verifier(), &sign_in.nonce)
            .unwrap();
        assert_eq!(claims.subject().as_str(), alice.id.as_str());
        assert_eq!(claims.email().unwrap().as_str(), "alice@example.com");
        assert_eq!(claims.email_verified(), Some(false));
        let amr: Vec<&str> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(amr, ["phr"]);
        use openidconnect::OAuth2TokenResponse as _;
        let userinfo = get_json(
            &h.http,
            &format!("{}/userinfo", h.base),
            Some(tokens.access_token().secret()),
        )
        .await;
        assert_eq!(userinfo["groups"], json!(["staff"]));
        assert_eq!(userinfo["department"], "research");
        assert_eq!(userinfo["shell"], "/bin/zsh");
        assert_eq!(userinfo["preferred_username"], "alice");
        assert_eq!(userinfo["given_name"], "Alice");
        assert_eq!(userinfo["email_verified"], false);

        // The passkey's use was recorded; the same assertion cannot sign in twice.
        let stored = &h.store.list_passkeys(&alice.id).await.unwrap()[0];
        assert!(stored.last_used_at.is_some());
        let replay = h
            .post_json(&mut fresh.clone(), "/api/webauthn/login/finish", &assertion)
            .await;
        assert_eq!(replay.status, 400, "{}", replay.body);
        assert_eq!(replay.json()["code"], "invalid_webauthn_session");
        // Without the ceremony's cookie: refused too.
        let mut bare = Jar::default();
        let no_state = h
            .post_json(&mut bare, "/api/webauthn/login/finish", &assertion)
            .await;
        assert_eq!(no_state.json()["code"], "invalid_webauthn_session");

        // Disabled: the passkey no longer signs in, and the session no longer counts.
        let mut disabled = h.alice().await;
        disabled.disabled = true;
        h.store.update_user(&disabled).await.unwrap();
        let (refused, _) = h.sign_in(&mut Jar::default(), &mut browser, None).await;
        assert_eq!(
            (refused.status, refused.json()["code"].clone()),
            (403, json!("user_disabled"))
        );
        let account = h.get(&mut fresh, "/account").await;
        assert_eq!(account.status, 303, "a disabled person's session is over");
        // Nor does the grant: the refresh token is refused.
        let refresh = tokens.refresh_token().unwrap().secret().clone();
        let (status, body) = redeem_refresh(&h, &client_id, &secret, &refresh).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    })
    .await;
}

/// Consent is asked once (a form token is needed to give it); a person outside the client's
/// allowed groups gets a refusal page, then the client gets `access_denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_and_allowed_groups() {
    on_each_backend(|h| async move {
        let mut jar = h.first_admin().await;
        let mut browser = Browser::new(&h.base);
        assert_eq!(h.register(&mut jar, &mut browser).await.status, 200);
        let pkce = Pkce::new();
        let (open, _) = h.client(json!({})).await;
        let url = authorize_url(
            &h.base,
            &open,
            REDIRECT,
            "openid email",
            &pkce,
            &[("state", "s1")],
        );
        // prompt=none before any consent: the client is told, with no page.
        let silent = h.get(&mut jar, &format!("{url}&prompt=none")).await;
        assert_eq!(
            query(silent.location.as_deref().unwrap())["error"],
            "consent_required"
        );
        let asked = h.get(&mut jar, &url).await;
        let consent = asked.location.unwrap();
        assert!(
            consent.starts_with(&format!("{}/consent?", h.base)),
            "{consent}"
        );
        let page = h.get(&mut jar, &consent).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Your e-mail address"), "{}", page.body);
        let field = |name: &str| {
            let at = page
                .body
                .find(&format!("name=\"{name}\" value=\""))
                .unwrap()
                + name.len()
                + 15;
            html_unescape(&page.body[at..at + page.body[at..].find('"').unwrap()])
        };
        let (token, resume, deny) = (field("csrf_token"), field("resume"), field("deny"));
        // A made-up token is refused; the real one records the consent.
        let forged = h
            .post_form(
                &mut jar,
                "/consent",
                &[("csrf_token", "x"), ("resume", &resume), ("deny", &deny)],
            )
            .await;
        assert_eq!(forged.status, 403);
        let given = h
            .post_form(
                &mut jar,
                "/consent",
                &[("csrf_token", &token), ("resume", &resume), ("deny", &deny)],
            )
            .await;
        assert_eq!(given.location.as_deref(), Some(resume.as_str()));
        let back = h.get(&mut jar, &resume).await;
        assert!(query(back.location.as_deref().unwrap()).contains_key("code"));
        // Asked again: straight through.
        let again = h.get(&mut jar, &url).await;
        assert!(again.location.unwrap().starts_with(REDIRECT));
        // prompt=select_account signs in again (a sign-in from an earlier second than the
        // request's), the application's login_hint in the field.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let hinted = format!("{url}&prompt=select_account&login_hint=alice%40example.com");
        let login = h.get(&mut jar, &hinted).await.location.unwrap();
        assert!(login.starts_with(&format!("{}/login?", h.base)), "{login}");
        let page = h.get(&mut jar, &login).await;
        assert!(
            page.body.contains("value=\"alice@example.com\""),
            "{}",
            page.body
        );
        // prompt=consent asks again (times are in seconds: a consent from the second the
        // request arrived counts for it).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let prompt = h.get(&mut jar, &format!("{url}&prompt=consent")).await;
        assert!(
            prompt
                .location
                .unwrap()
                .starts_with(&format!("{}/consent?", h.base))
        );

        // A client for another group.
        let (closed, _) = h
            .client(json!({"allowed_groups": ["admins"], "skip_consent": true}))
            .await;
        let url = authorize_url(
            &h.base,
            &closed,
            REDIRECT,
            "openid",
            &pkce,
            &[("state", "s2")],
        );
        let asked = h.get(&mut jar, &url).await;
        let refused = asked.location.unwrap();
        assert!(
            refused.starts_with(&format!("{}/refused?", h.base)),
            "{refused}"
        );
        let page = h.get(&mut jar, &refused).await;
        assert_eq!(page.status, 403);
        assert!(
            page.body.contains("You cannot use Grafana"),
            "{}",
            page.body
        );
        let deny = query(&refused)["deny"].clone();
        let answer = query(h.get(&mut jar, &deny).await.location.as_deref().unwrap());
        assert_eq!(answer["error"], "access_denied");
        assert_eq!(answer["state"], "s2");
        // A deny URL with its signature broken is not obeyed.
        let broken = deny.replace("lk_deny=1", "lk_deny=2");
        let answer = h.get(&mut jar, &broken).await;
        assert!(
            answer
                .location
                .unwrap()
                .starts_with(&format!("{}/refused?", h.base))
        );
        // A client with a session duration of its own (1 s; this session is older): sign in
        // again.
        let (short, _) = h
            .client(json!({"session_duration": 1, "skip_consent": true}))
            .await;
        let short_url = authorize_url(&h.base, &short, REDIRECT, "openid", &pkce, &[]);
        let asked = h.get(&mut jar, &short_url).await.location.unwrap();
        assert!(asked.starts_with(&format!("{}/login?", h.base)), "{asked}");
        // prompt=none: no page, the client is told at once.
        let answer = query(
            h.get(&mut jar, &format!("{url}&prompt=none"))
                .await
                .location
                .as_deref()
                .unwrap(),
        );
        assert_eq!(answer["error"], "access_denied");
    })
    .await;
}

/// The token endpoint's answer to `client_id` redeeming `refresh`: (status, JSON body).
async fn redeem_refresh(h: &Harness, client_id: &str, secret: &str, refresh: &str) -> (u16, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let token_url = format!("{}/token", h.base);
    post_form_json(&h.http, &token_url, client_id, secret, &form).await
}

fn html_unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// A sign-in link works once and only while fresh, and then asks for a passkey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_links() {
    on_each_backend(|h| async move {
        h.first_admin().await;
        let alice = h.alice().await;
        let link = latchkey_idp::links::create_link(
            &h.store,
            &idp_id(),
            &h.base,
            LinkPurpose::SignIn,
            Some(&alice.id),
            60,
        )
        .await
        .unwrap();
        let path = link.strip_prefix(&h.base).unwrap().to_owned();
        let mut jar = Jar::default();
        let page = h.get(&mut jar, &path).await;
        assert!(
            page.body.contains("Sign in as Alice Liddell"),
            "{}",
            page.body
        );
        // A post from another site is refused and does not spend the link.
        let forged = h
            .send(
                &mut jar,
                h.http
                    .post(h.url(&path))
                    .header("origin", "https://evil.example")
                    .header("sec-fetch-site", "cross-site"),
            )
            .await;
        assert_eq!(forged.status, 403);
        let used = h.post_form(&mut jar, &path, &[]).await;
        assert_eq!(used.location.as_deref(), Some("/account/passkeys/new"));
        assert_eq!(h.get(&mut jar, "/account").await.status, 200);
        assert_eq!(
            h.post_form(&mut Jar::default(), &path, &[]).await.status,
            404
        );
        assert_eq!(h.get(&mut Jar::default(), &path).await.status, 404);

        let expired = latchkey_idp::links::create_link(
            &h.store,
            &idp_id(),
            &h.base,
            LinkPurpose::SignIn,
            Some(&alice.id),
            -1,
        )
        .await
        .unwrap();
        let expired = expired.strip_prefix(&h.base).unwrap().to_owned();
        assert_eq!(
            h.post_form(&mut Jar::default(), &expired, &[]).await.status,
            404
        );
        let _ = unix_now();
    })
    .await;
}

/// WebFinger names the issuer for enabled directory people only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webfinger() {
    on_each_backend(|h| async move {
        h.first_admin().await;
        let finger = |q: &str| {
            let url = format!("{}/.well-known/webfinger?{q}", h.base);
            let http = h.http.clone();
            async move {
                let r = http.get(url).send().await.unwrap();
                let status = r.status().as_u16();
                let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
                let cors = r.headers()["access-control-allow-origin"].to_str().unwrap().to_owned();
                (status, ct, cors, r.json::<Value>().await.unwrap())
            }
        };
        let (status, ct, cors, body) = finger("resource=acct%3Aalice%40example.com").await;
        assert_eq!((status, ct.as_str(), cors.as_str()), (200, "application/jrd+json", "*"));
        let discovery = get_json(&h.http, &format!("{}/.well-known/openid-configuration", h.base), None).await;
        assert_eq!(
            body,
            json!({"subject": "acct:alice@example.com", "links": [{"rel": "http://openid.net/specs/connect/1.0/issuer", "href": discovery["issuer"]}]})
        );
        assert_eq!(finger("resource=acct:nobody@example.com").await.0, 404);
        assert_eq!(finger("resource=mailto:alice@example.com").await.0, 400);
        assert_eq!(finger("rel=http://openid.net/specs/connect/1.0/issuer").await.0, 400);
        let mut alice = h.alice().await;
        alice.disabled = true;
        h.store.update_user(&alice).await.unwrap();
        assert_eq!(finger("resource=acct:alice@example.com").await.0, 404);
        // Asking in bulk is slowed down.
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(finger("resource=acct:someone@example.com").await.0);
        }
        assert!(statuses.contains(&429), "{statuses:?}");
    })
    .await;
}

/// The JSON routes take JSON from our own pages only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_refuse_other_origins_and_other_bodies() {
    on_each_backend(|h| async move {
        let evil = h
            .send(
                &mut Jar::default(),
                h.http
                    .post(h.url("/api/webauthn/login/start"))
                    .header("origin", "https://evil.example")
                    .header(CONTENT_TYPE, "application/json")
                    .body("{}"),
            )
            .await;
        assert_eq!(evil.status, 403);
        let form = h
            .send(
                &mut Jar::default(),
                h.http
                    .post(h.url("/api/webauthn/login/finish"))
                    .form(&[("id", "x")]),
            )
            .await;
        assert_eq!(form.status, 415);
        let garbage = h
            .post_json(&mut Jar::default(), "/api/webauthn/register/start", b"")
            .await;
        assert_eq!(
            (garbage.status, garbage.json()["code"].clone()),
            (401, json!("not_signed_in"))
        );
        let mut jar = Jar::default();
        let started = h
            .post_json(&mut jar, "/api/webauthn/login/start", b"")
            .await;
        assert_eq!(started.status, 200);
        let junk = h
            .post_json(&mut jar, "/api/webauthn/login/finish", b"{\"id\": 5}")
            .await;
        assert_eq!(junk.status, 400, "{}", junk.body);
        assert_eq!(junk.json()["code"], "invalid_webauthn_response");
    })
    .await;
}

/// A session signed in long ago (stolen, or left open) cannot add a passkey of its own until
/// a passkey of the account confirms it is the person; the old session of a browser that
/// signs in again ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_passkey_needs_a_recent_sign_in() {
    on_each_backend(|h| async move {
        let mut jar = h.first_admin().await;
        let mut browser = Browser::new(&h.base);
        assert_eq!(h.register(&mut jar, &mut browser).await.status, 200);
        let alice = h.alice().await;
        let now = unix_now();
        let token = latchkey_oidc::crypto::random_token();
        h.store
            .create_session(&latchkey_store::Session {
                id_hash: latchkey_oidc::crypto::sha256_hex(token.as_bytes()),
                issuer: idp_id(),
                subject: latchkey_store::Subject(alice.id.0.clone()),
                auth_time: now - 3600,
                amr: vec!["phr".into()],
                created_at: now - 3600,
                expires_at: now + 3600,
                user_agent: String::new(),
                ip: String::new(),
                last_used_at: now,
            })
            .await
            .unwrap();
        let mut old = Jar::default();
        old.0.insert("latchkey_session".into(), token.clone());
        let refused = h
            .post_json(&mut old, "/api/webauthn/register/start", b"")
            .await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.json()["code"], "reauthentication_required");

        // The account page offers the passkey check first.
        let page = h.get(&mut old, "/account").await;
        assert!(
            page.body.contains("data-passkey=\"reauthenticate\""),
            "{}",
            page.body
        );
        assert!(!page.body.contains("data-passkey=\"register\""));
        // A fresh passkey check by the person: then it may.
        let started = h
            .post_json(&mut old, "/api/webauthn/reauthenticate/start", b"")
            .await;
        let assertion = browser.get(&started.json()).await.unwrap();
        let checked = h
            .post_json(&mut old, "/api/webauthn/reauthenticate", &assertion)
            .await;
        assert_eq!(checked.status, 200, "{}", checked.body);
        let page = h.get(&mut old, "/account").await;
        assert!(
            page.body.contains("data-passkey=\"register\""),
            "{}",
            page.body
        );
        let mut second = Browser::new(&h.base);
        let added = h.register(&mut old, &mut second).await;
        assert_eq!(added.status, 200, "{}", added.body);
        assert_eq!(h.store.list_passkeys(&alice.id).await.unwrap().len(), 2);

        // Signing in again in that browser ends its old session.
        let (done, _) = h.sign_in(&mut old, &mut browser, None).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let gone = h
            .store
            .find_session(
                &idp_id(),
                &latchkey_oidc::crypto::sha256_hex(token.as_bytes()),
                unix_now(),
            )
            .await
            .unwrap();
        assert!(gone.is_none(), "the replaced session ended");
    })
    .await;
}

/// Back-channel logout: the ID token names the session (`sid`); signing out sends the client
/// a logout token for that session, and the grant ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_tells_the_clients() {
    on_each_backend(|h| async move {
        // The client's logout endpoint: records what it is sent.
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let listener = latchkey_testkit::bind_loopback(0).await;
        let logout_uri = format!("http://{}/bcl", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/bcl",
            axum::routing::post({
                let received = received.clone();
                move |body: String| async move {
                    received.lock().unwrap().push(body);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let _endpoint = latchkey_testkit::Served::start(listener, app);

        let mut jar = h.first_admin().await;
        let mut browser = Browser::new(&h.base);
        assert_eq!(h.register(&mut jar, &mut browser).await.status, 200);
        let (client_id, secret) = h
            .client(json!({"skip_consent": true, "backchannel_logout_uri": logout_uri}))
            .await;
        let discovery = get_json(
            &h.http,
            &format!("{}/.well-known/openid-configuration", h.base),
            None,
        )
        .await;
        assert_eq!(discovery["backchannel_logout_supported"], true);
        let rp = RelyingParty::new(&h.http, &h.base, &client_id, Some(&secret), REDIRECT).await;
        let sign_in = rp.sign_in(&["email"]);
        let back = h.get(&mut jar, sign_in.url.as_str()).await;
        let code = query(back.location.as_deref().unwrap())["code"].clone();
        let tokens = rp.redeem(&code, sign_in.verifier).await;
        let id_token = tokens.extra_fields().id_token().unwrap().to_string();
        let (_, id_claims) = latchkey_testkit::jwt_parts(&id_token);
        let sid = id_claims["sid"]
            .as_str()
            .expect("the ID token names the session")
            .to_owned();

        // Sign out: the client hears of it.
        let out = h.post_form(&mut jar, "/logout", &[]).await;
        assert_eq!(out.status, 303);
        let mut body = None;
        for _ in 0..100 {
            if let Some(b) = received.lock().unwrap().first().cloned() {
                body = Some(b);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let body = body.expect("a logout token was sent");
        let token: String = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
            .expect("logout_token");
        let (header, claims) = latchkey_testkit::jwt_parts(&token);
        assert_eq!(header["typ"], "logout+jwt");
        assert_eq!(claims["aud"], Value::from(client_id.as_str()));
        assert_eq!(claims["sub"], Value::from(h.alice().await.id.as_str()));
        assert_eq!(claims["sid"], Value::from(sid.as_str()));
        assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
        assert!(claims.get("nonce").is_none());
        // The grant of that session ended.
        use openidconnect::OAuth2TokenResponse as _;
        let refresh = tokens.refresh_token().unwrap().secret().clone();
        let (status, body) = redeem_refresh(&h, &client_id, &secret, &refresh).await;
        assert_eq!(status, 400, "{body}");
    })
    .await;
}
