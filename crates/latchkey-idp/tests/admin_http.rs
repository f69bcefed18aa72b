//! The admin pages and "My apps" over HTTP, as administrators and other people use them in a
//! browser: who may open them, the forms' CSRF protection, people (one-time links, disabling,
//! the last administrator), groups and claims reaching a client, allowed groups, and taking
//! back a client's access. People sign in by one-time link here (passkeys are covered by
//! `people_http.rs`). Every test runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use latchkey_idp::passkey::PasskeySettings;
use latchkey_idp::{DirectoryClaims, Idp, IdpSettings, SessionAuthenticator};
use latchkey_oidc::{Provider, ProviderSettings};
use latchkey_store::{IssuerId, LinkPurpose, Store, Subject, User};
use latchkey_testkit::{
    Pkce, RelyingParty, Served, TestDb, authorization_response, authorize_url, backends,
    bind_loopback, get_json, http_client, master_key, post_form_json,
};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

const REDIRECT: &str = "https://app.example/cb";
/// The idp and its engine on a loopback port, issuer `http://localhost:PORT`.
struct World {
    base: String,
    store: Store,
    issuer: IssuerId,
    http: reqwest::Client,
    _served: Served,
}

/// What a page answered.
struct Page {
    status: u16,
    location: String,
    body: String,
    cookie: Option<String>,
}

impl Page {
    /// The decoded `value` of the first input after `marker` (an `id="…"` or `name="…"`).
    fn value(&self, marker: &str) -> String {
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} in {}", self.body));
        let rest = &self.body[at..];
        let start = rest.find("value=\"").unwrap() + 7;
        let end = start + rest[start..].find('"').unwrap();
        [
            ("&#34;", "\""),
            ("&#39;", "'"),
            ("&#60;", "<"),
            ("&#62;", ">"),
        ]
        .iter()
        .fold(rest[start..end].to_owned(), |s, (e, c)| s.replace(e, c))
        .replace("&#38;", "&")
    }

    fn token(&self) -> String {
        self.value("name=\"csrf_token\"")
    }
}

/// The session cookie's name (a plain name on http://localhost).
const SESSION: &str = "latchkey_session";

/// One browser: its session cookie, if it has one.
#[derive(Clone, Default)]
struct Tab(Option<String>);

impl World {
    async fn new(db: &TestDb) -> World {
        let listener = bind_loopback(0).await;
        let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let store = db.store().await;
        let issuer = IssuerId::from("idp");
        let passkeys = PasskeySettings {
            rp_id: "localhost".into(),
            origin: base.clone(),
            ..PasskeySettings::default()
        };
        let settings = IdpSettings {
            issuer: base.clone(),
            issuer_id: issuer.clone(),
            session_duration: 3600,
            trusted_proxies: vec![],
            passkeys,
        };
        let idp = Idp::new(store.clone(), settings, &master_key()).unwrap();
        let engine = ProviderSettings::new(issuer.clone(), &base);
        let authn = Arc::new(SessionAuthenticator::new(idp.clone()));
        let claims = Arc::new(DirectoryClaims::new(store.clone()));
        let provider = Provider::new(engine, store.clone(), master_key(), authn, claims);
        let provider = Arc::new(provider.await.unwrap());
        provider.wait_for_keys().await.unwrap();
        let app = latchkey_oidc::router(provider).merge(latchkey_idp::router(idp));
        World {
            _served: Served::start(listener, app),
            base,
            store,
            issuer,
            http: http_client(),
        }
    }

    async fn send(&self, tab: &mut Tab, req: reqwest::RequestBuilder) -> Page {
        let req = match &tab.0 {
            Some(c) => req.header(COOKIE, format!("{SESSION}={c}")),
            None => req,
        };
        let r = req.send().await.unwrap();
        let cookie = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok()?.strip_prefix(&format!("{SESSION}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .next();
        if let Some(c) = &cookie {
            tab.0 = (!c.is_empty()).then(|| c.clone());
        }
        let header = |h| r.headers().get(h).map(|v| v.to_str().unwrap().to_owned());
        Page {
            status: r.status().as_u16(),
            location: header(LOCATION).unwrap_or_default(),
            cookie,
            body: r.text().await.unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        match path.starts_with("http") {
            true => path.to_owned(),
            false => format!("{}{path}", self.base),
        }
    }

    async fn get(&self, tab: &mut Tab, path: &str) -> Page {
        self.send(tab, self.http.get(self.url(path))).await
    }

    /// A form posted from one of our pages (`Origin` is ours).
    async fn post(&self, tab: &mut Tab, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.http.post(self.url(path)).header("origin", &self.base);
        self.send(tab, req.form(form)).await
    }

    /// The form on `page` (its CSRF token), posted to `path` with `fields`.
    async fn submit(&self, tab: &mut Tab, page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.get(tab, page).await.token();
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        self.post(tab, path, &form).await
    }

    /// Signs in with a one-time link to `url`.
    async fn follow_link(&self, url: &str) -> (Page, Tab) {
        let mut tab = Tab::default();
        let page = self.post(&mut tab, url, &[]).await;
        (page, tab)
    }

    /// The setup link's first administrator, Alice, signed in.
    async fn alice(&self) -> Tab {
        let link = latchkey_idp::links::setup_link_if_needed(&self.store, &self.issuer, &self.base)
            .await
            .unwrap()
            .unwrap();
        let mut tab = Tab::default();
        let fields = [
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("first_name", "Alice"),
        ];
        let made = self.post(&mut tab, &link, &fields).await;
        assert_eq!(made.status, 303, "{}", made.body);
        tab
    }

    async fn user(&self, username: &str) -> User {
        let found = self.store.find_user_by_username(username).await.unwrap();
        found.unwrap_or_else(|| panic!("no {username}"))
    }

    /// A person added in the admin pages, signed in by a link of the store's.
    async fn person(&self, alice: &mut Tab, username: &str) -> (User, Tab) {
        let email = format!("{username}@example.com");
        let fields = [("username", username), ("email", email.as_str())];
        let added = self
            .submit(alice, "/admin/people/new", "/admin/people", &fields)
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
        let user = self.user(username).await;
        let link = latchkey_idp::links::create_link(
            &self.store,
            &self.issuer,
            &self.base,
            LinkPurpose::SignIn,
            Some(&user.id),
            60,
        )
        .await
        .unwrap();
        let (page, tab) = self.follow_link(&link).await;
        assert_eq!(page.status, 303, "{}", page.body);
        (user, tab)
    }

    /// A client made on the admin pages: its id and secret as the page showed them.
    async fn client(&self, alice: &mut Tab, extra: &[(&str, &str)]) -> (String, String) {
        let mut fields = vec![
            ("name", "Grafana"),
            ("redirect_uris", REDIRECT),
            ("client_type", "confidential"),
            ("id_token_alg", "ES256"),
        ];
        fields.extend_from_slice(extra);
        let shown = self
            .submit(alice, "/admin/clients/new", "/admin/clients", &fields)
            .await;
        assert_eq!(shown.status, 200, "{}", shown.body);
        assert!(
            shown.body.contains("will not be shown again"),
            "{}",
            shown.body
        );
        (
            shown.value("id=\"client-id\""),
            shown.value("id=\"client-secret\""),
        )
    }

    /// A code flow in `tab` for `client`: the authorization response, or the page instead.
    async fn authorize(&self, tab: &Tab, client: &str, scope: &str, pkce: &Pkce) -> Page {
        let url = authorize_url(&self.base, client, REDIRECT, scope, pkce, &[("state", "s")]);
        self.send(&mut tab.clone(), self.http.get(url)).await
    }
}

async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let world = World::new(&db).await;
        let store = world.store.clone();
        test(world).await;
        store.close().await;
        db.cleanup().await;
    }
}

/// Someone not signed in is sent to sign in; someone who is not an administrator is told
/// so; a form without the token, or from another site, changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_administrators_with_our_forms() {
    on_each_backend(|w| async move {
        let asked = w.get(&mut Tab::default(), "/admin/clients").await;
        assert_eq!(asked.status, 303);
        assert_eq!(asked.location, w.url("/login?return_to=%2Fadmin%2Fclients"));
        let mut alice = w.alice().await;
        let home = w.get(&mut alice, "/admin").await;
        assert_eq!(home.location, "/admin/people");
        let people = w.get(&mut alice, "/admin/people").await;
        assert_eq!(people.status, 200);
        assert!(people.body.contains("aria-current=\"page\">People</a>"));
        let (_, mut bob) = w.person(&mut alice, "bob").await;
        for path in ["/admin/people", "/admin/groups/new", "/admin/clients"] {
            let refused = w.get(&mut bob, path).await;
            assert_eq!(refused.status, 403, "{path}");
            assert!(
                refused.body.contains("Only administrators"),
                "{}",
                refused.body
            );
        }
        let account = w.get(&mut bob, "/account").await;
        assert!(
            !account.body.contains("/admin/people\""),
            "no admin links for Bob"
        );
        // Bob's account-page token is not an admin token.
        let token = account.token();
        let forged = [("csrf_token", token.as_str()), ("name", "ops")];
        assert_eq!(w.post(&mut bob, "/admin/groups", &forged).await.status, 403);

        let fields = [("name", "ops")];
        assert_eq!(
            w.post(&mut alice, "/admin/groups", &fields).await.status,
            403
        );
        let token = w.get(&mut alice, "/admin/groups/new").await.token();
        let signed = [("csrf_token", token.as_str()), ("name", "ops")];
        let cross = w
            .http
            .post(w.url("/admin/groups"))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .form(&signed);
        assert_eq!(w.send(&mut alice, cross).await.status, 403);
        assert!(w.store.list_groups().await.unwrap().is_empty());
        assert_eq!(
            w.post(&mut alice, "/admin/groups", &signed).await.status,
            303
        );
        assert_eq!(w.store.list_groups().await.unwrap().len(), 1);
    })
    .await;
}

/// A person added on the pages gets a sign-in link shown once, which works once; the rules
/// for usernames are the directory's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_their_sign_in_link() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let bad = [("username", "carol smith"), ("email", "carol@example.com")];
        let refused = w
            .submit(&mut alice, "/admin/people/new", "/admin/people", &bad)
            .await;
        assert_eq!(refused.status, 400);
        assert!(refused.body.contains("Username"), "{}", refused.body);
        assert!(
            refused.body.contains("value=\"carol smith\""),
            "kept as typed"
        );
        let good = [
            ("username", "carol"),
            ("email", "carol@example.com"),
            ("first_name", "Carol"),
            ("last_name", "Ng"),
        ];
        let added = w
            .submit(&mut alice, "/admin/people/new", "/admin/people", &good)
            .await;
        let carol = w.user("carol").await;
        assert_eq!(added.location, format!("/admin/people/{}", carol.id));
        assert_eq!(carol.display_name, "Carol Ng");
        assert!(!carol.is_admin);
        let again = w
            .submit(&mut alice, "/admin/people/new", "/admin/people", &good)
            .await;
        assert!(
            again.body.contains("already has this username"),
            "{}",
            again.body
        );
        let list = w.get(&mut alice, "/admin/people").await;
        assert!(list.body.contains("Carol Ng") && list.body.contains("none yet"));

        let page = format!("/admin/people/{}", carol.id);
        let shown = w
            .submit(&mut alice, &page, &format!("{page}/link"), &[])
            .await;
        assert_eq!(shown.status, 200);
        let link = shown.value("id=\"sign-in-link\"");
        assert!(link.starts_with(&format!("{}/lc/", w.base)), "{link}");
        let (used, mut tab) = w.follow_link(&link).await;
        assert_eq!(used.location, "/account/passkeys/new");
        assert!(used.cookie.is_some());
        assert!(
            w.get(&mut tab, "/account")
                .await
                .body
                .contains("carol@example.com")
        );
        assert_eq!(w.follow_link(&link).await.0.status, 404, "once only");
    })
    .await;
}

/// A group with a member and a claim, and a client made on the pages that admits only that
/// group: the member's userinfo carries both; someone outside the group is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_claims_and_allowed_groups_reach_the_client() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let (_, bob) = w.person(&mut alice, "bob").await;
        let fields = [("name", "staff"), ("friendly_name", "Staff")];
        let made = w
            .submit(&mut alice, "/admin/groups/new", "/admin/groups", &fields)
            .await;
        let group = w.store.find_group_by_name("staff").await.unwrap().unwrap();
        let page = format!("/admin/groups/{}", group.id);
        assert_eq!(made.location, page);
        let member = [("member", "alice@example.com")];
        let added = w
            .submit(&mut alice, &page, &format!("{page}/members"), &member)
            .await;
        assert_eq!(added.location, format!("{page}#members-h"));
        let nobody = [("member", "zed")];
        let unknown = w
            .submit(&mut alice, &page, &format!("{page}/members"), &nobody)
            .await;
        assert_eq!(unknown.status, 400);
        assert!(unknown.body.contains("Nobody has the username"));
        let claims = format!("{page}/claims");
        let reserved = [("name", "email"), ("value", "x@example.com")];
        let refused = w.submit(&mut alice, &page, &claims, &reserved).await;
        assert_eq!(refused.status, 400);
        assert!(refused.body.contains("reserved"), "{}", refused.body);
        let claim = [("name", "department"), ("value", "research")];
        w.submit(&mut alice, &page, &claims, &claim).await;
        let list = [("name", "levels"), ("value", "[1,2]")];
        w.submit(&mut alice, &page, &claims, &list).await;
        let shown = w.get(&mut alice, &page).await;
        assert!(shown.body.contains("alice@example.com") && shown.body.contains("[1,2]"));

        let extra = [("allowed_group", "staff"), ("skip_consent", "on")];
        let (id, secret) = w.client(&mut alice, &extra).await;
        let rp = RelyingParty::new(&w.http, &w.base, &id, Some(&secret), REDIRECT).await;
        let sign_in = rp.sign_in(&["profile", "groups"]);
        let answer = authorization_response(
            w.http
                .get(sign_in.url.as_str())
                .header(COOKIE, format!("{SESSION}={}", alice.0.clone().unwrap())),
            REDIRECT,
        )
        .await
        .unwrap();
        let tokens = rp.redeem(&answer["code"], sign_in.verifier).await;
        use openidconnect::OAuth2TokenResponse as _;
        let info = get_json(
            &w.http,
            &w.url("/userinfo"),
            Some(tokens.access_token().secret()),
        )
        .await;
        assert_eq!(info["groups"], json!(["staff"]));
        assert_eq!(info["department"], "research");
        assert_eq!(info["levels"], json!([1, 2]));
        // Bob is in no group: refused.
        let refused = w.authorize(&bob, &id, "openid", &Pkce::new()).await;
        assert!(
            refused.location.starts_with(&w.url("/refused?")),
            "{}",
            refused.location
        );

        // The group's page can take the claim and the member away again.
        let remove = [("action", "remove"), ("name", "levels")];
        w.submit(&mut alice, &page, &claims, &remove).await;
        let alice_id = w.user("alice").await.id;
        let out = [("action", "remove"), ("user", alice_id.as_str())];
        w.submit(&mut alice, &page, &format!("{page}/members"), &out)
            .await;
        let left = w.store.find_directory_claims(&alice_id).await.unwrap();
        assert!(left.groups.is_empty() && left.claims.is_empty(), "{left:?}");
        // Deleting asks first, on its own page.
        let delete = format!("{page}/delete");
        let asked = w.get(&mut alice, &delete).await;
        assert!(asked.body.contains("Delete “Staff”?"), "{}", asked.body);
        let done = w.submit(&mut alice, &delete, &delete, &[]).await;
        assert_eq!(done.location, "/admin/groups");
        assert!(w.store.list_groups().await.unwrap().is_empty());
    })
    .await;
}

/// Disabling someone ends their sessions at once; the last enabled administrator can
/// neither demote nor disable themself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_and_the_last_administrator() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let (bob, mut bob_tab) = w.person(&mut alice, "bob").await;
        assert_eq!(w.get(&mut bob_tab, "/account").await.status, 200);
        let page = format!("/admin/people/{}", bob.id);
        let disable = [
            ("username", "bob"),
            ("email", "bob@example.com"),
            ("disabled", "on"),
        ];
        let saved = w.submit(&mut alice, &page, &page, &disable).await;
        assert_eq!(saved.status, 200, "{}", saved.body);
        assert!(saved.body.contains("Saved."));
        assert_eq!(w.get(&mut bob_tab, "/account").await.status, 303);
        let subject = Subject(bob.id.0.clone());
        let left = w.store.list_sessions(&w.issuer, &subject, 0).await.unwrap();
        assert!(left.is_empty());
        let link = w
            .submit(&mut alice, &page, &format!("{page}/link"), &[])
            .await;
        assert_eq!(link.status, 400, "no link for a disabled account");

        let me = w.user("alice").await;
        let mine = format!("/admin/people/{}", me.id);
        let demote = [("username", "alice"), ("email", "alice@example.com")];
        let refused = w.submit(&mut alice, &mine, &mine, &demote).await;
        assert_eq!(refused.status, 400);
        assert!(
            refused.body.contains("only enabled administrator"),
            "{}",
            refused.body
        );
        let off = [
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("admin", "on"),
            ("disabled", "on"),
        ];
        assert_eq!(w.submit(&mut alice, &mine, &mine, &off).await.status, 400);
        assert!(w.user("alice").await.is_admin);
        assert!(!w.user("alice").await.disabled);
        // With a second administrator, Alice may step down; then the pages are closed to her.
        let promote = [
            ("username", "bob"),
            ("email", "bob@example.com"),
            ("admin", "on"),
        ];
        w.submit(&mut alice, &page, &page, &promote).await;
        let stepped = w.submit(&mut alice, &mine, &mine, &demote).await;
        assert_eq!(stepped.location, "/account");
        assert_eq!(w.get(&mut alice, "/admin/people").await.status, 403);
    })
    .await;
}

/// "My apps": clients with a launch URL that admit the person, and the clients holding
/// their grants; revoking one makes its refresh token stop working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_apps_and_revoking_access() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let extra = [
            ("skip_consent", "on"),
            ("launch_url", "https://grafana.example/"),
        ];
        let (id, secret) = w.client(&mut alice, &extra).await;
        let account = w.get(&mut alice, "/account").await;
        assert!(account.body.contains("href=\"https://grafana.example/\""));
        assert!(!account.body.contains("Revoke access"), "nothing given yet");

        let pkce = Pkce::new();
        let back = w.authorize(&alice, &id, "openid", &pkce).await;
        let code = url::Url::parse(&back.location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let token_url = w.url("/token");
        let (status, tokens) = post_form_json(
            &w.http,
            &token_url,
            &id,
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", pkce.verifier.as_str()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

        let account = w.get(&mut alice, "/account").await;
        assert!(account.body.contains("Revoke access"), "{}", account.body);
        let revoke = format!("/account/apps/{id}/revoke");
        let no_token = w.post(&mut alice, &revoke, &[]).await;
        assert_eq!(no_token.status, 403);
        let done = w.submit(&mut alice, "/account", &revoke, &[]).await;
        assert_eq!(done.location, "/account#apps-h");
        let (status, answer) = post_form_json(
            &w.http,
            &token_url,
            &id,
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(
            (status, answer["error"].clone()),
            (400, json!("invalid_grant"))
        );
        let account = w.get(&mut alice, "/account").await;
        assert!(!account.body.contains("Revoke access"));
    })
    .await;
}

/// A client's edit form keeps a group that does not exist yet (dropping it would admit
/// everyone); a new secret replaces the old one after a page that asks; deleting asks too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_edited_given_a_new_secret_and_deleted() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let (id, secret) = w.client(&mut alice, &[]).await;
        let page = format!("/admin/clients/{id}");
        let mut client = w
            .store
            .find_client(&w.issuer, &id.as_str().into())
            .await
            .unwrap()
            .unwrap();
        client.metadata = json!({"allowed_groups": ["later"], "client_uri": "https://app.example"});
        w.store.update_client(&client).await.unwrap();
        let form = w.get(&mut alice, &page).await;
        assert!(form.body.contains("later (no such group)"), "{}", form.body);
        let fields = [
            ("name", "Grafana Cloud"),
            ("redirect_uris", REDIRECT),
            ("allowed_group", "later"),
            ("launch_url", "https://grafana.example/"),
            ("id_token_alg", "EdDSA"),
        ];
        let saved = w.submit(&mut alice, &page, &page, &fields).await;
        assert_eq!(saved.status, 200, "{}", saved.body);
        let stored = w
            .store
            .find_client(&w.issuer, &id.as_str().into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.name, "Grafana Cloud");
        assert_eq!(stored.id_token_alg, "EdDSA");
        assert_eq!(stored.metadata["allowed_groups"], json!(["later"]));
        assert_eq!(stored.metadata["client_uri"], "https://app.example");
        assert_eq!(stored.metadata["launch_url"], "https://grafana.example/");
        let bad = [
            ("name", "x"),
            ("redirect_uris", "javascript:alert(1)"),
            ("id_token_alg", "RS256"),
        ];
        let refused = w.submit(&mut alice, &page, &page, &bad).await;
        assert_eq!(refused.status, 400);
        assert!(refused.body.contains("Redirect URI"), "{}", refused.body);

        let token_url = w.url("/introspect");
        let probe = [("token", "x")];
        assert_eq!(
            post_form_json(&w.http, &token_url, &id, &secret, &probe)
                .await
                .0,
            200
        );
        let ask = format!("{page}/secret");
        assert!(
            w.get(&mut alice, &ask)
                .await
                .body
                .contains("Regenerate the secret")
        );
        let shown = w.submit(&mut alice, &ask, &ask, &[]).await;
        let fresh = shown.value("id=\"client-secret\"");
        assert_ne!(fresh, secret);
        // The engine keeps clients for up to two seconds (the pages cannot evict its cache).
        tokio::time::sleep(latchkey_oidc::client_cache::TTL).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            post_form_json(&w.http, &token_url, &id, &secret, &probe)
                .await
                .0,
            401
        );
        assert_eq!(
            post_form_json(&w.http, &token_url, &id, &fresh, &probe)
                .await
                .0,
            200
        );

        let delete = format!("{page}/delete");
        assert_eq!(
            w.get(&mut alice, &format!("{page}/other")).await.status,
            404
        );
        let done = w.submit(&mut alice, &delete, &delete, &[]).await;
        assert_eq!(done.location, "/admin/clients");
        assert!(
            w.store
                .find_client(&w.issuer, &id.as_str().into())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(w.get(&mut alice, &page).await.status, 404);
        // Each change is in the audit log, with who made it and from where.
        let events = w.store.list_audit_events(&w.issuer, 50).await.unwrap();
        let events: Vec<_> = events
            .into_iter()
            .filter(|e| e.kind.starts_with("CLIENT_"))
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "CLIENT_DELETED",
                "CLIENT_SECRET_ROTATED",
                "CLIENT_UPDATED",
                "CLIENT_CREATED"
            ]
        );
        let alice_id = w.user("alice").await.id;
        assert_eq!(
            events[0].subject.as_ref().unwrap().as_str(),
            alice_id.as_str()
        );
        assert_eq!(events[0].client_id.as_ref().unwrap().as_str(), id);
        assert_eq!(events[0].ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(events[0].detail["via"], "admin_pages");
    })
    .await;
}

/// Deleting a person asks first, ends their sessions and removes them; nobody deletes
/// their own account here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_deleted_after_a_page_that_asks() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let (bob, mut bob_tab) = w.person(&mut alice, "bob").await;
        let delete = format!("/admin/people/{}/delete", bob.id);
        let asked = w.get(&mut alice, &delete).await;
        assert!(asked.body.contains("Delete bob?"), "{}", asked.body);
        let done = w.submit(&mut alice, &delete, &delete, &[]).await;
        assert_eq!(done.location, "/admin/people");
        assert!(w.store.find_user(&bob.id).await.unwrap().is_none());
        assert_eq!(w.get(&mut bob_tab, "/account").await.status, 303);
        let me = w.user("alice").await;
        let mine = format!("/admin/people/{}/delete", me.id);
        assert_eq!(w.get(&mut alice, &mine).await.status, 400);
        let token = w.get(&mut alice, "/admin/people").await.token();
        let refused = w.post(&mut alice, &mine, &[("csrf_token", &token)]).await;
        assert_eq!(refused.status, 400);
        assert!(w.store.find_user(&me.id).await.unwrap().is_some());
    })
    .await;
}

/// A client's logo: uploaded by the page script as the body (the CSRF token in a header),
/// checked by its bytes, served by us to the pages that name the client, and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_logos_are_uploaded_served_and_removed() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let (id, _) = w.client(&mut alice, &[]).await;
        let page = format!("/admin/clients/{id}");
        let upload = format!("/admin/clients/{id}/logo");
        let png: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0u8, 64))
            .collect();
        let send = |body: Vec<u8>, token: Option<String>, content_type: &'static str| {
            let mut req = w
                .http
                .post(w.url(&upload))
                .header("origin", &w.base)
                .header("sec-fetch-site", "same-origin")
                .header("content-type", content_type)
                .body(body);
            if let Some(t) = token {
                req = req.header("x-csrf-token", t);
            }
            req
        };
        let form = w.get(&mut alice, &page).await;
        assert!(form.body.contains("No logo yet"), "{}", form.body);
        let token = form.token();

        let no_token = w
            .send(&mut alice, send(png.clone(), None, "image/png"))
            .await;
        assert_eq!(no_token.status, 403, "{}", no_token.body);
        let html = b"<html><script>alert(1)</script><svg></svg></html>".to_vec();
        let not_image = w
            .send(&mut alice, send(html, Some(token.clone()), "image/svg+xml"))
            .await;
        assert_eq!(not_image.status, 415, "{}", not_image.body);
        assert!(not_image.body.contains("PNG, JPEG, WebP or SVG"));
        let huge = w
            .send(
                &mut alice,
                send(vec![0u8; 300 * 1024], Some(token.clone()), "image/png"),
            )
            .await;
        assert_eq!(huge.status, 413, "{}", huge.body);
        let multipart = w
            .send(
                &mut alice,
                send(b"--x--".to_vec(), None, "multipart/form-data; boundary=x"),
            )
            .await;
        assert_eq!(multipart.status, 400);
        assert!(
            multipart.body.contains("needs JavaScript"),
            "{}",
            multipart.body
        );
        assert!(
            w.store
                .client_logo(&w.issuer, &id.as_str().into())
                .await
                .unwrap()
                .is_none(),
            "nothing refused was stored"
        );

        // Someone who is not an administrator cannot set one.
        let (_, mut bob) = w.person(&mut alice, "bob").await;
        let by_bob = w
            .send(
                &mut bob,
                send(png.clone(), Some(token.clone()), "image/png"),
            )
            .await;
        assert_eq!(by_bob.status, 403);

        let saved = w
            .send(
                &mut alice,
                send(png.clone(), Some(token), "application/octet-stream"),
            )
            .await;
        assert_eq!(saved.status, 200, "{}", saved.body);
        let form = w.get(&mut alice, &page).await;
        let at = form
            .body
            .find(&format!("/clients/{id}/logo?v="))
            .expect("logo link");
        let link = &form.body[at..at + form.body[at..].find('"').unwrap()];
        let served = w.http.get(w.url(link)).send().await.unwrap();
        assert_eq!(served.status(), 200);
        let h = served.headers();
        assert_eq!(
            h["content-type"], "image/png",
            "by its bytes, not the claim"
        );
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("sandbox")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(served.bytes().await.unwrap().to_vec(), png);
        // The list and My apps show it too.
        let list = w.get(&mut alice, "/admin/clients").await;
        assert!(list.body.contains(link), "{}", list.body);

        let removed = w
            .submit(&mut alice, &page, &format!("{upload}/delete"), &[])
            .await;
        assert_eq!(removed.status, 303, "{}", removed.body);
        assert_eq!(w.http.get(w.url(link)).send().await.unwrap().status(), 404);
        let form = w.get(&mut alice, &page).await;
        assert!(form.body.contains("No logo yet"), "{}", form.body);
    })
    .await;
}

/// The audit log: a person sees their own sign-ins on their account page; administrators
/// see everyone's events, with who did what to which application; nobody else may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_and_ones_own_activity() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        let account = w.get(&mut alice, "/account").await;
        assert!(account.body.contains("Recent activity"), "{}", account.body);
        assert!(
            account.body.contains("Signed in with a one-time link"),
            "{}",
            account.body
        );
        w.client(&mut alice, &[]).await;
        let (_, mut bob) = w.person(&mut alice, "bob").await;

        let log = w.get(&mut alice, "/admin/audit").await;
        assert_eq!(log.status, 200, "{}", log.body);
        for seen in [
            "Added a client",
            "Grafana",
            "Added a person",
            "Signed in with a one-time link",
            "bob",
            "alice",
        ] {
            assert!(log.body.contains(seen), "{seen}: {}", log.body);
        }
        // Newest first: Bob's sign-in comes before the client Alice added.
        let bob_signed_in = log
            .body
            .find("<td data-label=\"Who\">bob</td>")
            .expect("bob's row");
        let client_added = log.body.find("Added a client").unwrap();
        assert!(bob_signed_in < client_added, "newest first");

        // Bob's own activity is his, not Alice's.
        let his = w.get(&mut bob, "/account").await;
        assert!(his.body.contains("Signed in with a one-time link"));
        assert!(!his.body.contains("Added a client"), "{}", his.body);
        assert_eq!(w.get(&mut bob, "/admin/audit").await.status, 403);
        assert_eq!(
            w.get(&mut Tab::default(), "/admin/audit").await.status,
            303,
            "someone not signed in is sent to sign in"
        );
    })
    .await;
}

/// A group renamed in its page: clients that admit it follow the new name; a name taken by
/// another group is refused with the typed values kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_renamed_and_clients_follow() {
    on_each_backend(|w| async move {
        let mut alice = w.alice().await;
        for (name, friendly) in [("ops", "Ops"), ("staff", "Staff")] {
            let fields = [("name", name), ("friendly_name", friendly)];
            let made = w
                .submit(&mut alice, "/admin/groups/new", "/admin/groups", &fields)
                .await;
            assert_eq!(made.status, 303, "{}", made.body);
        }
        let (id, _) = w.client(&mut alice, &[("allowed_group", "ops")]).await;
        let group = w.store.find_group_by_name("ops").await.unwrap().unwrap();
        let page = format!("/admin/groups/{}", group.id);

        let taken = [("name", "STAFF"), ("friendly_name", "Operations")];
        let refused = w.submit(&mut alice, &page, &page, &taken).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("already"), "{}", refused.body);
        assert!(
            refused.body.contains("value=\"STAFF\""),
            "typed values kept"
        );
        let bad = [("name", "has space"), ("friendly_name", "x")];
        assert_eq!(w.submit(&mut alice, &page, &page, &bad).await.status, 400);

        let fields = [("name", "operations"), ("friendly_name", "Operations")];
        let renamed = w.submit(&mut alice, &page, &page, &fields).await;
        assert_eq!(renamed.status, 303, "{}", renamed.body);
        let stored = w.store.find_group(&group.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.name.as_str(), stored.friendly_name.as_str()),
            ("operations", "Operations")
        );
        let client = w
            .store
            .find_client(&w.issuer, &id.as_str().into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(client.metadata["allowed_groups"], json!(["operations"]));
        let log = w.get(&mut alice, "/admin/audit").await;
        assert!(log.body.contains("Renamed a group"), "{}", log.body);
    })
    .await;
}
