//! The tsidp admin UI end to end: a stand-in tailscaled says who each loopback source address
//! is, and a browser-like client drives the pages. Admins manage clients that then work for
//! sign-in; everyone else, Funnel and forged form posts are refused and change nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use latchkey_oidc::{Provider, ProviderSettings};
use latchkey_store::{ClientId, IssuerId};
use latchkey_testkit::{
    Backend, FakeTailscaled, Pkce, Served, TestDb, authorization_response, authorize_url, backends,
    bind_loopback, code_grant, http_client, http_client_from, master_key, post_form_json,
    tagged_body, whois_body, with_headers,
};
use latchkey_tsidp::{LocalApi, TailnetAuthenticator, TailnetClaims};
use serde_json::{Value, json};

const ALICE: &str = "127.0.0.2"; // admin
const BOB: &str = "127.0.0.3"; // tailnet user, no allow_admin_ui
const CAROL: &str = "127.0.0.4"; // another admin
const TAGGED: &str = "127.0.0.5"; // tagged node whose grant says allow_admin_ui
const STRANGER: &str = "127.0.0.1"; // loopback, not a tailnet peer

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn tailnet() -> FakeTailscaled {
    let admin = json!({"allow_admin_ui": true, "users": ["*"], "resources": ["*"]});
    let user = json!({"users": ["*"], "resources": ["*"], "allow_dcr": true});
    let fake = FakeTailscaled::start().await;
    let body = |id, login: &str, name: &str, addr: &str, rules: Vec<Value>| {
        whois_body(id, login, name, name, &[addr], rules)
    };
    fake.set_peer(
        ip(ALICE),
        body(
            1001,
            "alice@example.com",
            "alice",
            "100.64.0.2",
            vec![admin.clone()],
        ),
    );
    fake.set_peer(
        ip(BOB),
        body(1002, "bob@example.com", "bob", "100.64.0.3", vec![user]),
    );
    fake.set_peer(
        ip(CAROL),
        body(
            1003,
            "carol@example.com",
            "carol",
            "100.64.0.4",
            vec![admin.clone()],
        ),
    );
    fake.set_peer(
        ip(TAGGED),
        tagged_body("ci-runner", &["100.64.0.5"], vec![admin]),
    );
    fake
}

struct Server {
    issuer: String,
    provider: Arc<Provider>,
    _served: Served,
}

/// The engine, the admin UI and the Funnel layer, as the binary mounts them for tsidp.
async fn start(db: &TestDb, fake: &FakeTailscaled) -> Server {
    let listener = bind_loopback(0).await;
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let local = LocalApi::new(fake.socket_path()).with_cache_ttl(Duration::ZERO);
    let authn = Arc::new(TailnetAuthenticator::new(
        Arc::new(local),
        &issuer,
        vec![],
        true, // tagged nodes may sign in; the admin UI still refuses them
    ));
    let provider = Arc::new(
        Provider::new(
            ProviderSettings::new(tsidp(), &issuer),
            db.store().await,
            master_key(),
            authn.clone(),
            Arc::new(TailnetClaims),
        )
        .await
        .unwrap(),
    );
    provider.wait_for_keys().await.unwrap();
    let app = latchkey_oidc::router(provider.clone())
        .merge(latchkey_tsidp::admin::router(provider.clone(), authn))
        .layer(axum::middleware::from_fn_with_state(
            provider.site().clone(),
            latchkey_tsidp::funnel::refuse_over_funnel,
        ));
    Server {
        issuer,
        provider,
        _served: Served::start(listener, app),
    }
}

/// A browser on the tailnet machine at `addr`.
struct Browser {
    http: reqwest::Client,
    issuer: String,
}

struct Page {
    status: u16,
    body: String,
}

impl Browser {
    fn at(server: &Server, addr: &str) -> Browser {
        Browser {
            http: http_client_from(addr),
            issuer: server.issuer.clone(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.issuer)))
            .await
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let req = self.http.get(format!("{}{path}", self.issuer));
        self.send(with_headers(req, headers)).await
    }

    /// A form post as a browser sends it from one of our pages.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(
            path,
            fields,
            &[("origin", &self.issuer), ("sec-fetch-site", "same-origin")],
        )
        .await
    }

    async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let req = self
            .http
            .post(format!("{}{path}", self.issuer))
            .form(fields);
        self.send(with_headers(req, headers)).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let r = req.send().await.unwrap();
        Page {
            status: r.status().as_u16(),
            body: r.text().await.unwrap(),
        }
    }

    /// A CSRF token from one of the admin pages.
    async fn token(&self) -> String {
        let page = self.get("/clients/new").await;
        assert_eq!(page.status, 200, "{}", page.body);
        value_after(&page.body, "name=\"csrf_token\"")
    }
}

/// The `value="…"` of the first element after `marker`.
fn value_after(body: &str, marker: &str) -> String {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {body}"));
    let rest = &body[at..];
    let start = rest.find("value=\"").expect("a value") + "value=\"".len();
    let len = rest[start..].find('"').expect("end of value");
    rest[start..start + len].to_owned()
}

impl Server {
    /// Silent sign-in at `addr` with this client and redirect URI, then the code at /token
    /// with `secret`. The token endpoint's status and body, or the authorization refusal.
    async fn sign_in(
        &self,
        addr: &str,
        client_id: &str,
        secret: &str,
        redirect: &str,
    ) -> Result<(u16, Value), (u16, String)> {
        let pkce = Pkce::new();
        let url = authorize_url(
            &self.issuer,
            client_id,
            redirect,
            "openid email",
            &pkce,
            &[("state", "st")],
        );
        let q = authorization_response(http_client_from(addr).get(url), redirect).await?;
        let code = q.get("code").expect("a code");
        let token_url = format!("{}/token", self.issuer);
        let form = code_grant(code, redirect, &pkce);
        Ok(post_form_json(&http_client(), &token_url, client_id, secret, &form).await)
    }

    async fn client(&self, id: &str) -> Option<latchkey_store::Client> {
        self.provider
            .store
            .find_client(&tsidp(), &ClientId::from(id))
            .await
            .unwrap()
    }

    async fn audit_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .provider
            .store
            .list_audit_events(&tsidp(), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        kinds.reverse();
        kinds
    }

    /// A client made by an admin through the pages: (client_id, secret).
    async fn create(&self, admin: &Browser, name: &str, redirect: &str) -> (String, String) {
        let token = admin.token().await;
        let page = admin
            .post(
                "/clients",
                &[
                    ("csrf_token", &token),
                    ("name", name),
                    ("redirect_uris", redirect),
                    ("client_type", "confidential"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        (
            value_after(&page.body, "aria-label=\"Client ID\""),
            value_after(&page.body, "id=\"client_secret\""),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_clients_that_then_work() {
    for backend in backends() {
        let fake = tailnet().await;
        let db = TestDb::new(backend).await;
        let server = start(&db, &fake).await;
        let alice = Browser::at(&server, ALICE);
        let what = format!("{backend:?}");

        // The overview: issuer and endpoints to copy, no clients yet.
        let page = alice.get("/").await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        for path in [
            "",
            "/.well-known/openid-configuration",
            "/authorize",
            "/token",
            "/userinfo",
            "/.well-known/jwks.json",
            "/introspect",
            "/revoke",
            "/end-session",
        ] {
            let url = format!("value=\"{}{path}\"", server.issuer);
            assert!(page.body.contains(&url), "{what}: {url} in {}", page.body);
        }
        assert!(page.body.contains("No clients yet"), "{what}");
        // The stylesheet the layout links is served (not inline: the CSP forbids that).
        assert!(
            page.body.contains("href=\"/assets/latchkey.css\""),
            "{what}"
        );
        let css = reqwest::get(format!("{}/assets/latchkey.css", server.issuer))
            .await
            .unwrap();
        assert_eq!(css.status(), 200);
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        assert!(
            page.body.contains("alice@example.com"),
            "{what}: who is signed in"
        );

        // Create: the secret is on the answer page, and the client signs people in.
        let cb = "https://grafana.example/login/generic_oauth";
        let (id, secret) = server
            .create(
                &alice,
                "Grafana <prod>",
                &format!("{cb}\r\nhttp://127.0.0.1/cb"),
            )
            .await;
        assert_eq!(secret.len(), 43, "{what}: 256-bit secret");
        let stored = server.client(&id).await.expect("stored");
        assert_eq!(stored.name, "Grafana <prod>");
        assert_eq!(stored.redirect_uris, [cb, "http://127.0.0.1/cb"]);
        assert!(!stored.public);
        let (status, body) = server.sign_in(BOB, &id, &secret, cb).await.unwrap();
        assert_eq!(status, 200, "{what}: {body}");
        assert!(body["id_token"].is_string());

        // The list shows it (escaped), and the secret is nowhere but on the creation page.
        let page = alice.get("/").await;
        assert!(page.body.contains(&id), "{what}");
        assert!(
            page.body.contains("Grafana &#60;prod&#62;"),
            "{what}: {}",
            page.body
        );
        assert!(page.body.contains(cb) && page.body.contains("confidential"));
        assert!(!page.body.contains(&secret));
        let page = alice.get(&format!("/clients/{id}")).await;
        assert_eq!(page.status, 200, "{what}");
        assert!(!page.body.contains(&secret), "{what}");

        // Edit: takes effect at once in this process (the engine's client cache is evicted).
        let new_cb = "https://grafana.example/oauth/callback";
        let token = alice.token().await;
        let page = alice
            .post(
                &format!("/clients/{id}"),
                &[
                    ("csrf_token", &token),
                    ("name", "Grafana"),
                    ("redirect_uris", new_cb),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        assert!(page.body.contains("Saved."), "{what}");
        let stored = server.client(&id).await.unwrap();
        assert_eq!(stored.name, "Grafana");
        assert_eq!(stored.redirect_uris, [new_cb]);
        let (status, _) = server.sign_in(BOB, &id, &secret, new_cb).await.unwrap();
        assert_eq!(status, 200, "{what}: the new redirect URI works");
        let (status, body) = server.sign_in(BOB, &id, &secret, cb).await.unwrap_err();
        assert_eq!(status, 400, "{what}: the old one is gone: {body}");

        // New secret: shown once; the old one stops working at once.
        let token = alice.token().await;
        let page = alice
            .post(&format!("/clients/{id}/secret"), &[("csrf_token", &token)])
            .await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        let new_secret = value_after(&page.body, "id=\"client_secret\"");
        assert_ne!(new_secret, secret);
        let (status, body) = server.sign_in(BOB, &id, &secret, new_cb).await.unwrap();
        assert_eq!(status, 401, "{what}: old secret: {body}");
        assert_eq!(body["error"], "invalid_client");
        let (status, _) = server.sign_in(BOB, &id, &new_secret, new_cb).await.unwrap();
        assert_eq!(status, 200, "{what}: new secret");

        // Public clients can be made too; they have no secret to show or regenerate.
        let token = alice.token().await;
        let page = alice
            .post(
                "/clients",
                &[
                    ("csrf_token", &token),
                    ("name", "SPA"),
                    ("redirect_uris", "https://spa.example/cb"),
                    ("client_type", "public"),
                ],
            )
            .await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        assert!(!page.body.contains("id=\"client_secret\""), "{what}");
        let spa = value_after(&page.body, "aria-label=\"Client ID\"");
        assert!(server.client(&spa).await.unwrap().public);
        let page = alice
            .post(&format!("/clients/{spa}/secret"), &[("csrf_token", &token)])
            .await;
        assert_eq!(page.status, 400, "{what}: {}", page.body);

        // Delete: asks first, then the client is refused everywhere.
        let page = alice.get(&format!("/clients/{id}/delete")).await;
        assert_eq!(page.status, 200, "{what}");
        assert!(
            page.body.contains("Delete Grafana?"),
            "{what}: {}",
            page.body
        );
        assert!(
            server.client(&id).await.is_some(),
            "{what}: asking deletes nothing"
        );
        let token = value_after(&page.body, "name=\"csrf_token\"");
        let page = alice
            .post(&format!("/clients/{id}/delete"), &[("csrf_token", &token)])
            .await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        assert!(server.client(&id).await.is_none(), "{what}");
        let (status, body) = server
            .sign_in(BOB, &id, &new_secret, new_cb)
            .await
            .unwrap_err();
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("Unknown application"), "{what}: {body}");
        let page = alice.get(&format!("/clients/{id}")).await;
        assert_eq!(page.status, 404, "{what}");
        assert!(!alice.get("/").await.body.contains(&id), "{what}");

        // Every change is in the audit log, under the admin's subject.
        assert_eq!(
            server.audit_kinds().await,
            [
                "CLIENT_CREATED",
                "CLIENT_UPDATED",
                "CLIENT_SECRET_ROTATED",
                "CLIENT_CREATED",
                "CLIENT_DELETED"
            ],
            "{what}"
        );
        let events = server
            .provider
            .store
            .list_audit_events(&tsidp(), 1)
            .await
            .unwrap();
        assert_eq!(events[0].subject.as_ref().unwrap().as_str(), "userid:1001");
        assert_eq!(events[0].client_id.as_ref().unwrap().as_str(), id);
        assert_eq!(events[0].ip.as_deref(), Some(ALICE));
        assert_eq!(events[0].detail["login"], "alice@example.com");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_on_the_tailnet_get_in() {
    let fake = tailnet().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let server = start(&db, &fake).await;
    let alice = Browser::at(&server, ALICE);
    let (id, secret) = server
        .create(&alice, "Secret Project", "https://app.example/cb")
        .await;

    let paths = [
        "/".to_owned(),
        "/clients/new".to_owned(),
        format!("/clients/{id}"),
        format!("/clients/{id}/delete"),
    ];
    let refused = |who: &str, page: &Page, status: u16| {
        assert_eq!(page.status, status, "{who}: {}", page.body);
        assert!(!page.body.contains("Secret Project"), "{who} sees no names");
        assert!(!page.body.contains(&id), "{who} sees no ids");
        assert!(!page.body.contains("csrf_token"), "{who} gets no token");
    };
    // A tailnet user without allow_admin_ui, a loopback caller that is no tailnet peer, a
    // tagged node (even one whose grant says allow_admin_ui).
    for (who, addr, text) in [
        ("bob", BOB, "allow_admin_ui"),
        ("a stranger on loopback", STRANGER, "not a tailnet peer"),
        ("a tagged node", TAGGED, "tagged node"),
    ] {
        let browser = Browser::at(&server, addr);
        for path in &paths {
            let page = browser.get(path).await;
            refused(who, &page, 403);
            assert!(page.body.contains(text), "{who} {path}: {}", page.body);
        }
    }
    // Over Funnel, not even an admin.
    for path in &paths {
        let page = alice
            .get_with(path, &[("tailscale-funnel-request", "?1")])
            .await;
        refused("Funnel", &page, 403);
        assert!(page.body.contains("Funnel"), "{}", page.body);
    }
    // The engine's routes still answer over Funnel.
    let page = alice
        .get_with(
            "/.well-known/openid-configuration",
            &[("tailscale-funnel-request", "?1")],
        )
        .await;
    assert_eq!(page.status, 200);

    // Their posts change nothing, even with an admin's token in hand.
    let token = alice.token().await;
    for (who, addr) in [("bob", BOB), ("stranger", STRANGER), ("tagged", TAGGED)] {
        let browser = Browser::at(&server, addr);
        let page = browser
            .post(&format!("/clients/{id}/delete"), &[("csrf_token", &token)])
            .await;
        refused(who, &page, 403);
        let page = browser
            .post(
                "/clients",
                &[
                    ("csrf_token", &token),
                    ("name", "Evil"),
                    ("redirect_uris", "https://evil.example/cb"),
                    ("client_type", "confidential"),
                ],
            )
            .await;
        refused(who, &page, 403);
    }
    let page = alice
        .post_with(
            &format!("/clients/{id}/secret"),
            &[("csrf_token", &token)],
            &[("tailscale-funnel-request", "?1")],
        )
        .await;
    refused("Funnel", &page, 403);
    assert_eq!(
        server
            .provider
            .store
            .list_clients(&tsidp())
            .await
            .unwrap()
            .len(),
        1
    );
    let (status, _) = server
        .sign_in(BOB, &id, &secret, "https://app.example/cb")
        .await
        .unwrap();
    assert_eq!(status, 200, "the secret was not changed");
    assert_eq!(server.audit_kinds().await, ["CLIENT_CREATED"]);

    // Unknown clients are a 404 page, for admins only.
    assert_eq!(alice.get("/clients/nope").await.status, 404);

    // tailscaled down: nobody can be told apart, so nobody gets in.
    fake.stop();
    let page = alice.get("/").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("tailscaled is not answering"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Secret Project"));
    db.cleanup().await;
}

type Fields = Vec<(String, String)>;
type Headers<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_posts_change_nothing() {
    for backend in backends() {
        let fake = tailnet().await;
        let db = TestDb::new(backend).await;
        let server = start(&db, &fake).await;
        let alice = Browser::at(&server, ALICE);
        let carol = Browser::at(&server, CAROL);
        let (id, secret) = server
            .create(&alice, "Wiki", "https://wiki.example/cb")
            .await;
        let alices = alice.token().await;
        let carols = carol.token().await;
        let what = format!("{backend:?}");
        let same_origin = [
            ("origin", server.issuer.as_str()),
            ("sec-fetch-site", "same-origin"),
        ];

        let update = |token: &str| {
            vec![
                ("csrf_token".to_owned(), token.to_owned()),
                ("name".to_owned(), "Pwned".to_owned()),
                (
                    "redirect_uris".to_owned(),
                    "https://evil.example/cb".to_owned(),
                ),
            ]
        };
        let attempts: Vec<(&str, Fields, Headers)> = vec![
            ("no token", update("")[1..].to_vec(), same_origin.to_vec()),
            ("empty token", update(""), same_origin.to_vec()),
            ("garbled token", update("12345.abc"), same_origin.to_vec()),
            (
                "another admin's token",
                update(&carols),
                same_origin.to_vec(),
            ),
            (
                "cross-site",
                update(&alices),
                vec![
                    ("origin", "https://evil.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
            ),
            (
                "same-site sibling",
                update(&alices),
                vec![("sec-fetch-site", "same-site")],
            ),
            (
                "foreign origin, no fetch metadata",
                update(&alices),
                vec![("origin", "https://evil.example")],
            ),
            (
                "opaque origin, no fetch metadata",
                update(&alices),
                vec![("origin", "null")],
            ),
        ];
        for (name, fields, headers) in &attempts {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            for path in [
                format!("/clients/{id}"),
                format!("/clients/{id}/secret"),
                format!("/clients/{id}/delete"),
                "/clients".to_owned(),
            ] {
                let mut fields = fields.clone();
                if path == "/clients" {
                    fields.push(("client_type", "confidential"));
                }
                let page = alice.post_with(&path, &fields, headers).await;
                assert_eq!(page.status, 403, "{what} {name} {path}: {}", page.body);
                assert!(page.body.contains("Form not accepted"), "{what} {name}");
            }
        }
        let clients = server.provider.store.list_clients(&tsidp()).await.unwrap();
        assert_eq!(clients.len(), 1, "{what}");
        assert_eq!(clients[0].name, "Wiki", "{what}");
        assert_eq!(
            clients[0].redirect_uris,
            ["https://wiki.example/cb"],
            "{what}"
        );
        let (status, _) = server
            .sign_in(BOB, &id, &secret, "https://wiki.example/cb")
            .await
            .unwrap();
        assert_eq!(status, 200, "{what}: secret unchanged");
        assert_eq!(server.audit_kinds().await, ["CLIENT_CREATED"], "{what}");

        // What real browsers send is accepted: Fetch Metadata with our origin, or with
        // `Origin: null` (a no-referrer page); and a client without either header (a script
        // with the token) is left to the token.
        for headers in [
            same_origin.to_vec(),
            vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
            vec![],
        ] {
            let fields = [
                ("csrf_token", alices.as_str()),
                ("name", "Wiki"),
                ("redirect_uris", "https://wiki.example/cb"),
            ];
            let page = alice
                .post_with(&format!("/clients/{id}"), &fields, &headers)
                .await;
            assert_eq!(page.status, 200, "{what} {headers:?}: {}", page.body);
        }
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_shown_again_with_the_reason() {
    let fake = tailnet().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let server = start(&db, &fake).await;
    let alice = Browser::at(&server, ALICE);
    let token = alice.token().await;

    let create = |name: &'static str, uris: &'static str, kind: &'static str| {
        let token = token.clone();
        let alice = &alice;
        async move {
            alice
                .post(
                    "/clients",
                    &[
                        ("csrf_token", token.as_str()),
                        ("name", name),
                        ("redirect_uris", uris),
                        ("client_type", kind),
                    ],
                )
                .await
        }
    };
    for (name, uris, kind, message) in [
        (
            "App",
            "https://app.example/cb\njavascript:alert(1)",
            "confidential",
            "uses a forbidden scheme",
        ),
        (
            "App",
            "https://app.example/cb#x",
            "confidential",
            "has a fragment",
        ),
        ("App", "not a uri", "confidential", "is not an absolute URI"),
        ("App", "", "confidential", "at least one redirect URI"),
        (
            "",
            "https://app.example/cb",
            "confidential",
            "Give the client a name",
        ),
        (
            "App",
            "https://app.example/cb",
            "",
            "confidential or public",
        ),
    ] {
        let page = create(name, uris, kind).await;
        assert_eq!(page.status, 400, "{uris}: {}", page.body);
        assert!(page.body.contains(message), "{message}: {}", page.body);
        assert!(page.body.contains("name=\"csrf_token\""), "the form again");
        assert!(
            page.body.contains("role=\"alert\""),
            "the message is shown: {}",
            page.body
        );
    }
    // What was typed comes back, escaped.
    let page = create("<b>App</b>", "javascript:alert(1)", "public").await;
    assert!(
        page.body.contains("&#60;b&#62;App&#60;/b&#62;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("javascript:alert(1)</textarea>"));
    assert!(!page.body.contains("<b>App</b>"));
    assert!(
        server
            .provider
            .store
            .list_clients(&tsidp())
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );

    // Editing: same checks, the client keeps its values.
    let (id, _) = server.create(&alice, "App", "https://app.example/cb").await;
    let page = alice
        .post(
            &format!("/clients/{id}"),
            &[
                ("csrf_token", &token),
                ("name", "App 2"),
                ("redirect_uris", "data:text/html,hi"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("uses a forbidden scheme"),
        "{}",
        page.body
    );
    let stored = server.client(&id).await.unwrap();
    assert_eq!(stored.name, "App");
    assert_eq!(stored.redirect_uris, ["https://app.example/cb"]);

    // A garbled form is a 400 page, never a 500.
    let page = alice
        .post_with(
            &format!("/clients/{id}"),
            &[
                ("csrf_token", token.as_str()),
                ("csrf_token", token.as_str()),
            ],
            &[],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    db.cleanup().await;
}

fn tsidp() -> IssuerId {
    IssuerId::from("tsidp")
}
