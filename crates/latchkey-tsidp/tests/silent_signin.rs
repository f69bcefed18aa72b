//! The tsidp role end to end: a stand-in tailscaled answers WhoIs per caller address, callers
//! come from distinct loopback addresses, and an OAuth client completes the flow with no
//! prompt. Each refusal is checked to issue nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use latchkey_oidc::clients::{NewClient, create_client};
use latchkey_oidc::jose::{Alg, verify_jwt};
use latchkey_oidc::{Provider, ProviderSettings};
use latchkey_store::IssuerId;
use latchkey_testkit::{
    ACCESS_TOKEN_TYPE, Backend, FakeTailscaled, Pkce, RelyingParty, Served, TSIDP_CAP, TestDb,
    authorization_response, authorize_url, bind_loopback, code_grant, get_json, http_client,
    http_client_from, master_key, post_form_as, post_form_json, tagged_body, token_exchange,
    whois_body, with_groups, with_headers,
};
use latchkey_tsidp::{LocalApi, TailnetAuthenticator, TailnetDirectoryClaims};
use serde_json::{Map, Value, json};

const REDIRECT: &str = "https://app.example/callback";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Idp {
    issuer: String,
    provider: Arc<Provider>,
    client_id: String,
    secret: String,
    public_id: String,
    pkce: Pkce,
    _served: Served,
}

async fn start(db: &TestDb, fake: &FakeTailscaled, trusted_proxies: Vec<IpAddr>) -> Idp {
    let listener = bind_loopback(0).await;
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let tailnet = LocalApi::new(fake.socket_path()).with_cache_ttl(Duration::ZERO);
    let authn = TailnetAuthenticator::new(Arc::new(tailnet), &issuer, trusted_proxies, false);
    let store = db.store().await;
    let provider = Arc::new(
        Provider::new(
            ProviderSettings {
                token_exchange: true,
                ..ProviderSettings::new(tsidp(), &issuer)
            },
            store.clone(),
            master_key(),
            Arc::new(authn),
            Arc::new(TailnetDirectoryClaims::new(store.clone())),
        )
        .await
        .unwrap(),
    );
    provider.wait_for_keys().await.unwrap();
    let app = latchkey_oidc::router(provider.clone()).layer(axum::middleware::from_fn_with_state(
        provider.site().clone(),
        latchkey_tsidp::funnel::refuse_over_funnel,
    ));
    let served = Served::start(listener, app);
    let new = |public| NewClient {
        name: "app".into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
        public,
        id_token_alg: Alg::ES256,
        metadata: json!({}),
    };
    let confidential = create_client(&store, &tsidp(), new(false)).await.unwrap();
    let public = create_client(&store, &tsidp(), new(true)).await.unwrap();
    Idp {
        issuer,
        provider,
        client_id: confidential.client.id.0,
        secret: confidential.secret.unwrap(),
        public_id: public.client.id.0,
        pkce: Pkce::new(),
        _served: served,
    }
}

/// An authorization response's parameters, or the status and body of what came instead.
type AuthResponse = Result<HashMap<String, String>, (u16, String)>;

impl Idp {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn authorize_url(&self, client_id: &str) -> String {
        authorize_url(
            &self.issuer,
            client_id,
            REDIRECT,
            "openid email profile",
            &self.pkce,
            &[("state", "st"), ("nonce", "nn")],
        )
    }

    /// Sends the authorization request of `client_id` from the caller at `addr`.
    async fn authorize(
        &self,
        addr: &str,
        client_id: &str,
        headers: &[(&str, &str)],
    ) -> AuthResponse {
        let req = http_client_from(addr).get(self.authorize_url(client_id));
        authorization_response(with_headers(req, headers), REDIRECT).await
    }

    async fn sign_in(&self, addr: &str) -> (Map<String, Value>, Map<String, Value>) {
        let q = self.authorize(addr, &self.client_id, &[]).await.unwrap();
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], self.issuer);
        let code = q.get("code").expect("a code");
        let (status, body) = self.redeem(code, &[]).await;
        assert_eq!(status, 200, "{body}");
        let keys = self.provider.keys.keys();
        let (_, id) =
            verify_jwt(body["id_token"].as_str().unwrap(), |kid| keys.verifier(kid)).unwrap();
        let access = body["access_token"].as_str();
        let userinfo = get_json(&http_client(), &self.url("/userinfo"), access).await;
        (id, userinfo.as_object().unwrap().clone())
    }
}

fn assert_refused(r: AuthResponse, error: &str, what: &str) {
    match r {
        Ok(q) => {
            assert_eq!(
                q.get("error").map(String::as_str),
                Some(error),
                "{what}: {q:?}"
            );
            assert!(!q.contains_key("code"), "{what}: a code was issued");
        }
        Err((status, body)) => {
            panic!("{what}: expected a redirect with {error}, got {status}: {body}")
        }
    }
}

fn assert_page(r: AuthResponse, status: u16, text: &str, what: &str) {
    match r {
        Ok(q) => panic!("{what}: expected a {status} page, got a redirect {q:?}"),
        Err((s, body)) => {
            assert_eq!(s, status, "{what}: {body}");
            assert!(body.contains(text), "{what}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailnet_users_sign_in_silently_and_others_are_refused() {
    let fake = FakeTailscaled::start().await;
    let rule = json!({
        "users": ["*"], "resources": ["*"],
        "extraClaims": {"groups": ["admin"], "department": "ops"},
        "includeInUserInfo": true
    });
    fake.set_peer(
        ip("127.0.0.2"),
        with_groups(
            whois_body(
                1001,
                "alice@example.com",
                "Alice Smith",
                "alice-laptop",
                &["100.64.0.2"],
                vec![rule],
            ),
            &["group:eng"],
        ),
    );
    fake.set_peer(
        ip("127.0.0.3"),
        whois_body(
            1002,
            "bob@github",
            "Bob",
            "bob-desktop",
            &["100.64.0.3"],
            vec![],
        ),
    );
    fake.set_peer(
        ip("127.0.0.4"),
        tagged_body("server", &["100.64.0.4"], vec![]),
    );
    fake.set_peer(
        ip("127.0.0.9"),
        whois_body(
            1003,
            "carol@example.com",
            "Carol",
            "carol-pc",
            &["100.64.0.9"],
            vec![json!({"allow_dcr": true})],
        ),
    );
    fake.set_status(ip("127.0.0.6"), 500, "internal error");
    fake.set_status(ip("127.0.0.7"), 200, "{\"Node\": [");
    fake.set_peer(
        ip("127.0.0.8"),
        whois_body(
            1004,
            "dave@example.com",
            "Dave",
            "dave-pc",
            &["100.64.0.8"],
            vec![json!({"extraClaims": {"sub": "root"}})],
        ),
    );
    fake.set_status(
        ip("127.0.0.10"),
        200,
        &json!({"Node": {}, "UserProfile": {}, "CapMap": {TSIDP_CAP: []}}).to_string(),
    );

    let db = TestDb::new(Backend::Sqlite).await;
    let idp = start(&db, &fake, vec![]).await;

    // Two tailnet users, two identities, no prompt.
    let (alice, alice_info) = idp.sign_in("127.0.0.2").await;
    assert_eq!(alice["sub"], "userid:1001");
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["preferred_username"], "alice");
    assert_eq!(alice["name"], "Alice Smith");
    assert_eq!(alice["nonce"], "nn");
    assert_eq!(alice["node"], "alice-laptop.tail1234.ts.net.");
    assert_eq!(alice["tailnet"], "tail1234.ts.net");
    assert_eq!(alice["uid"], 1001);
    assert_eq!(alice["department"], "ops", "extra claims from the grant");
    let groups: Vec<&str> = alice["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"group:eng") && groups.contains(&"admin"),
        "{groups:?}"
    );
    assert!(
        alice["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "100.64.0.2/32")
    );
    assert_eq!(alice_info["sub"], "userid:1001");
    assert_eq!(alice_info["username"], "alice");
    assert_eq!(alice_info["department"], "ops", "includeInUserInfo");

    let (bob, bob_info) = idp.sign_in("127.0.0.3").await;
    assert_eq!(bob["sub"], "userid:1002");
    assert_eq!(
        bob["email"], "bob@github.127.0.0.1",
        "tsidp's e-mail shape for @github logins"
    );
    assert!(bob.get("department").is_none() && bob_info.get("department").is_none());
    assert!(fake.requests().iter().any(|(path, host)| {
        path.starts_with("/localapi/v0/whois?addr=127.0.0.3") && host == "local-tailscaled.sock"
    }));

    // A public client with PKCE (tsidp has none).
    let q = idp
        .authorize("127.0.0.2", &idp.public_id, &[])
        .await
        .unwrap();
    assert!(q.contains_key("code"));

    // Refusals: nothing issued.
    assert_refused(
        idp.authorize("127.0.0.4", &idp.client_id, &[]).await,
        "access_denied",
        "tagged node",
    );
    assert_refused(
        idp.authorize("127.0.0.5", &idp.client_id, &[]).await,
        "access_denied",
        "not a tailnet peer",
    );
    assert_page(
        idp.authorize(
            "127.0.0.2",
            &idp.client_id,
            &[("Tailscale-Funnel-Request", "?1")],
        )
        .await,
        403,
        "Funnel",
        "funnel request",
    );
    assert_page(
        idp.authorize("127.0.0.6", &idp.client_id, &[]).await,
        503,
        "tailscaled",
        "tailscaled 500",
    );
    assert_page(
        idp.authorize("127.0.0.7", &idp.client_id, &[]).await,
        503,
        "could not be read",
        "malformed WhoIs",
    );
    assert_page(
        idp.authorize("127.0.0.8", &idp.client_id, &[]).await,
        503,
        "sub",
        "grant with a protected claim",
    );
    assert_page(
        idp.authorize("127.0.0.10", &idp.client_id, &[]).await,
        503,
        "names no user",
        "WhoIs without a user",
    );

    // Dynamic registration: only for a caller whose grant says allow_dcr, never over Funnel.
    let register = |addr: &str, funnel: bool| {
        let mut req = http_client_from(addr)
            .post(format!("{}/register", idp.issuer))
            .json(&json!({"redirect_uris": ["https://new.example/cb"], "client_name": "new"}));
        if funnel {
            req = req.header("Tailscale-Funnel-Request", "?1");
        }
        async move { req.send().await.unwrap() }
    };
    let r = register("127.0.0.2", false).await;
    assert_eq!(r.status(), 403, "alice's grant has no allow_dcr");
    let r = register("127.0.0.9", false).await;
    assert_eq!(r.status(), 201, "carol's grant allows DCR");
    let created: Value = r.json().await.unwrap();
    assert!(created["client_secret"].is_string());
    let r = register("127.0.0.9", true).await;
    assert_eq!(r.status(), 403, "not over Funnel");
    let r = register("127.0.0.5", false).await;
    assert_eq!(r.status(), 403, "not a tailnet peer");

    // Funnel may still reach discovery.
    let r = http_client_from("127.0.0.2")
        .get(format!("{}/.well-known/openid-configuration", idp.issuer))
        .header("Tailscale-Funnel-Request", "?1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // tailscaled gone: a clear 503 page, quickly, not a hang.
    fake.stop();
    let started = std::time::Instant::now();
    assert_page(
        idp.authorize("127.0.0.2", &idp.client_id, &[]).await,
        503,
        "tailscaled is not answering",
        "tailscaled down",
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let fake = FakeTailscaled::start().await;
    alice_and_bob(&fake, vec![]);
    let db = TestDb::new(Backend::Sqlite).await;
    // 127.0.0.1 plays `tailscale serve`.
    let idp = start(&db, &fake, vec![ip("127.0.0.1")]).await;

    // Through the trusted proxy: the last hop names the caller (earlier hops are the
    // client's own claims and are ignored).
    let q = idp
        .authorize(
            "127.0.0.1",
            &idp.client_id,
            &[("X-Forwarded-For", "127.0.0.2, 127.0.0.3")],
        )
        .await
        .unwrap();
    assert!(q.contains_key("code"));
    assert!(
        fake.requests()
            .iter()
            .any(|(p, _)| p.starts_with("/localapi/v0/whois?addr=127.0.0.3"))
    );

    // An unreadable or empty header from the proxy never falls back to the proxy's own
    // address, even when the proxy is a person's node.
    fake.set_peer(
        ip("127.0.0.1"),
        whois_body(
            1003,
            "carol@example.com",
            "Carol",
            "carol",
            &["100.64.0.4"],
            vec![],
        ),
    );
    fake.clear_requests();
    for bad in [&b"\xff\xfe"[..], b" , "] {
        let r = http_client_from("127.0.0.1")
            .get(idp.authorize_url(&idp.client_id))
            .header(
                "X-Forwarded-For",
                reqwest::header::HeaderValue::from_bytes(bad).unwrap(),
            )
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            location.is_none_or(|l| !l.contains("code=")),
            "signed in through an unreadable X-Forwarded-For"
        );
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());

    // From anyone else the header is ignored: alice cannot claim to be bob.
    fake.clear_requests();
    let q = idp
        .authorize(
            "127.0.0.2",
            &idp.client_id,
            &[("X-Forwarded-For", "127.0.0.3")],
        )
        .await
        .unwrap();
    assert!(q.contains_key("code"));
    let asked: Vec<String> = fake.requests().into_iter().map(|(p, _)| p).collect();
    assert!(
        asked
            .iter()
            .all(|p| p.starts_with("/localapi/v0/whois?addr=127.0.0.2")),
        "{asked:?}"
    );

    // Rate limits count the caller the proxy names, not the proxy: one caller guessing
    // secrets through it does not lock the others out.
    let token = |forwarded: &'static str, secret: String| {
        let req = http_client_from("127.0.0.1")
            .post(format!("{}/token", idp.issuer))
            .header("X-Forwarded-For", forwarded)
            .basic_auth(&idp.client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let mut last = 0;
    for _ in 0..25 {
        last = token("127.0.0.2", "wrong".into()).await;
    }
    assert_eq!(last, 429, "the guessing caller is limited");
    assert_eq!(
        token("127.0.0.3", idp.secret.clone()).await,
        200,
        "others are not"
    );
    db.cleanup().await;
}

impl Idp {
    async fn code_for(&self, addr: &str) -> String {
        let q = self.authorize(addr, &self.client_id, &[]).await.unwrap();
        q.get("code").expect("a code").clone()
    }

    /// POSTs `form` to /token as the confidential client: the status and the JSON answer.
    async fn token<F: serde::Serialize + ?Sized>(&self, form: &F) -> (u16, Value) {
        let (id, secret) = (&self.client_id, &self.secret);
        post_form_json(&http_client(), &self.url("/token"), id, secret, form).await
    }

    async fn redeem(&self, code: &str, resources: &[&str]) -> (u16, Value) {
        let mut form = code_grant(code, REDIRECT, &self.pkce);
        form.extend(resources.iter().map(|r| ("resource", (*r).to_owned())));
        self.token(&form).await
    }

    fn audience(&self, access_token: &str) -> Vec<String> {
        let keys = self.provider.keys.keys();
        let (_, claims) = verify_jwt(access_token, |kid| keys.verifier(kid)).unwrap();
        claims["aud"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
}

/// Alice (userid:1001) at 127.0.0.2 with these grant rules, Bob (userid:1002) at 127.0.0.3
/// with none.
fn alice_and_bob(fake: &FakeTailscaled, alice_rules: Vec<Value>) {
    fake.set_peer(
        ip("127.0.0.2"),
        whois_body(
            1001,
            "alice@example.com",
            "Alice",
            "alice",
            &["100.64.0.2"],
            alice_rules,
        ),
    );
    fake.set_peer(
        ip("127.0.0.3"),
        whois_body(
            1002,
            "bob@example.com",
            "Bob",
            "bob",
            &["100.64.0.3"],
            vec![],
        ),
    );
}

/// A confidential client with no redirect URI (a gateway that only exchanges tokens).
async fn gateway_client(idp: &Idp, name: &str) -> latchkey_oidc::clients::CreatedClient {
    create_client(
        &idp.provider.store,
        &tsidp(),
        NewClient {
            name: name.into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: Alg::RS256,
            metadata: json!({}),
        },
    )
    .await
    .unwrap()
}

/// RFC 8707 at /token, governed by the grant's `users` and `resources` as in tsidp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_indicators_follow_the_grant() {
    let fake = FakeTailscaled::start().await;
    let rule = json!({"users": ["alice@example.com"], "resources": ["https://api.example"]});
    alice_and_bob(&fake, vec![rule]);
    let db = TestDb::new(Backend::Sqlite).await;
    let idp = start(&db, &fake, vec![]).await;

    // A resource the grant does not list: refused, and the code is not spent by it.
    let code = idp.code_for("127.0.0.2").await;
    let (status, body) = idp.redeem(&code, &["https://other.example"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    let (status, body) = idp.redeem(&code, &["not a uri"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // Listed and unlisted together: only the listed one becomes an audience.
    let (status, body) = idp
        .redeem(&code, &["https://api.example", "https://other.example"])
        .await;
    assert_eq!(status, 200, "{body}");
    let aud = idp.audience(body["access_token"].as_str().unwrap());
    assert_eq!(
        aud,
        vec![idp.client_id.clone(), "https://api.example".to_owned()]
    );

    // At refresh too; a refused resource does not consume the refresh token.
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", "https://other.example"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, body) = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", "https://api.example"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        idp.audience(body["access_token"].as_str().unwrap())
            .contains(&"https://api.example".to_owned())
    );

    // Bob's grants list no resource.
    let code = idp.code_for("127.0.0.3").await;
    let (status, body) = idp.redeem(&code, &["https://api.example"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, _) = idp.redeem(&code, &[]).await;
    assert_eq!(status, 200, "without a resource the code still works");
    db.cleanup().await;
}

/// RFC 8693 token exchange (tsidp's `--enable-sts`): another confidential client trades a
/// user's access token for one addressed to an audience the user's grant lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_exchange_follows_the_grant() {
    const AT: &str = ACCESS_TOKEN_TYPE;
    let fake = FakeTailscaled::start().await;
    let rule =
        json!({"users": ["alice@example.com"], "resources": ["https://api.example", "mcp-server"]});
    alice_and_bob(&fake, vec![rule]);
    let db = TestDb::new(Backend::Sqlite).await;
    let idp = start(&db, &fake, vec![]).await;
    let gateway = gateway_client(&idp, "gateway").await;
    let gateway_id = gateway.client.id.0.clone();
    let gateway_secret = gateway.secret.unwrap();
    let token_url = format!("{}/token", idp.issuer);
    let introspect_url = format!("{}/introspect", idp.issuer);
    let http = http_client();
    let as_gateway = async |pairs: Vec<(&'static str, String)>| {
        post_form_json(&http, &token_url, &gateway_id, &gateway_secret, &pairs).await
    };
    let introspect = async |token: &str| {
        let pairs = [("token", token)];
        post_form_json(&http, &introspect_url, &gateway_id, &gateway_secret, &pairs)
            .await
            .1
    };
    let claims_of = |token: &str| {
        let keys = idp.provider.keys.keys();
        verify_jwt(token, |kid| keys.verifier(kid)).unwrap().1
    };

    let code = idp.code_for("127.0.0.2").await;
    let (status, alice) = idp.redeem(&code, &[]).await;
    assert_eq!(status, 200, "{alice}");
    let alice_at = alice["access_token"].as_str().unwrap().to_owned();

    // Listed and unlisted audiences together: only the listed ones are granted.
    let (status, body) = as_gateway(token_exchange(
        &alice_at,
        &[
            ("audience", "mcp-server"),
            ("audience", "https://other.example"),
            ("resource", "https://api.example"),
        ],
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], AT);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let exchanged = body["access_token"].as_str().unwrap().to_owned();
    let c = claims_of(&exchanged);
    assert_eq!(c["sub"], "userid:1001");
    assert_eq!(c["aud"], json!(["mcp-server", "https://api.example"]));
    assert_eq!(c["client_id"], Value::from(gateway_id.as_str()));
    assert_eq!(c["scope"], "openid email profile");
    assert!(c.get("act").is_none());
    // The exchanged token is a working access token for the same person.
    let userinfo = get_json(&http, &idp.url("/userinfo"), Some(&exchanged)).await;
    assert_eq!(userinfo["sub"], "userid:1001");

    // Nothing the grant lists: invalid_target. Bob's grant lists nothing at all.
    let (status, body) = as_gateway(token_exchange(
        &alice_at,
        &[("audience", "https://other.example")],
    ))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    let code = idp.code_for("127.0.0.3").await;
    let (_, bob) = idp.redeem(&code, &[]).await;
    let bob_at = bob["access_token"].as_str().unwrap();
    let (status, body) = as_gateway(token_exchange(bob_at, &[("audience", "mcp-server")])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );

    // Delegation: the gateway acts with its own token; a narrower scope is granted as asked.
    let (_, cc) = as_gateway(vec![("grant_type", "client_credentials".to_owned())]).await;
    let actor = cc["access_token"].as_str().unwrap();
    let mut pairs = token_exchange(
        &alice_at,
        &[("audience", "mcp-server"), ("scope", "openid")],
    );
    pairs.push(("actor_token", actor.to_owned()));
    pairs.push(("actor_token_type", AT.to_owned()));
    let (status, body) = as_gateway(pairs).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid");
    let delegated = body["access_token"].as_str().unwrap().to_owned();
    let act = json!({"sub": gateway_id, "client_id": gateway_id});
    assert_eq!(claims_of(&delegated)["act"], act);
    // Someone else's token cannot be the actor.
    let (_, app_cc) = idp.token(&[("grant_type", "client_credentials")]).await;
    let mut pairs = token_exchange(&alice_at, &[("audience", "mcp-server")]);
    pairs.push((
        "actor_token",
        app_cc["access_token"].as_str().unwrap().to_owned(),
    ));
    pairs.push(("actor_token_type", AT.to_owned()));
    let (status, body) = as_gateway(pairs).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    // Exchanged again (a second later) without an actor token, the record of who acts is
    // kept, and the new token does not outlive the one it came from.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = as_gateway(token_exchange(
        &delegated,
        &[("audience", "https://api.example")],
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let again = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&again)["act"], act);
    let exp = |t: &str| claims_of(t)["exp"].as_i64().unwrap();
    assert_eq!(exp(&again), exp(&delegated));
    // A new actor on a delegated token keeps the earlier one, nested.
    let mut pairs = token_exchange(&delegated, &[("audience", "mcp-server")]);
    pairs.push(("actor_token", actor.to_owned()));
    pairs.push(("actor_token_type", AT.to_owned()));
    let (status, body) = as_gateway(pairs).await;
    assert_eq!(status, 200, "{body}");
    let mut chain = act.clone();
    chain["act"] = act.clone();
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["act"],
        chain
    );
    // Deleting the exchanging client revokes what it was given.
    let other = gateway_client(&idp, "short-lived gateway").await;
    let (_, body) = post_form_json(
        &http,
        &token_url,
        &other.client.id.0,
        other.secret.as_deref().unwrap(),
        &token_exchange(&alice_at, &[("audience", "mcp-server")]),
    )
    .await;
    let theirs = body["access_token"].as_str().expect("exchanged").to_owned();
    assert_eq!(introspect(&theirs).await["active"], true);
    idp.provider.delete_client(&other.client.id).await.unwrap();
    assert_eq!(introspect(&theirs).await["active"], false);
    // Introspection shows the actor.
    let body = introspect(&again).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["act"], act);

    // Exchanged tokens belong to the user's grant: revoking the grant revokes them.
    let refresh = [("token", alice["refresh_token"].as_str().unwrap())];
    let r = post_form_as(
        &http,
        &idp.url("/revoke"),
        &idp.client_id,
        &idp.secret,
        &refresh,
    )
    .await;
    assert_eq!(r.status(), 200);
    for t in [&exchanged, &delegated, &again] {
        let body = introspect(t).await;
        assert_eq!(body["active"], false, "{body}");
    }
    let (status, body) = as_gateway(token_exchange(&alice_at, &[("audience", "mcp-server")])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    db.cleanup().await;
}

/// Beyond tsidp: a tailnet login that is an e-mail address in the Latchkey directory gets
/// that person's groups and (with `profile`) custom claims; the directory is read at each
/// issue, so a change reaches the next refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_enriches_tailnet_identities() {
    use latchkey_store::{Group, GroupId, User, UserId};
    for backend in latchkey_testkit::backends() {
        let fake = FakeTailscaled::start().await;
        let grant = json!({"extraClaims": {"department": "from-grant", "groups": ["grant-group"]}});
        fake.set_peer(
            ip("127.0.0.2"),
            with_groups(
                whois_body(
                    1001,
                    "Alice@Example.com",
                    "Alice",
                    "alice",
                    &["100.64.0.2"],
                    vec![grant],
                ),
                &["group:eng"],
            ),
        );
        fake.set_peer(
            ip("127.0.0.3"),
            whois_body(
                1002,
                "bob@example.com",
                "Bob",
                "bob",
                &["100.64.0.3"],
                vec![],
            ),
        );
        let db = TestDb::new(backend).await;
        let idp = start(&db, &fake, vec![]).await;
        let store = &idp.provider.store;
        let person = |id: &str, username: &str, email: &str, disabled| User {
            id: UserId::from(id),
            username: username.into(),
            email: Some(email.into()),
            email_verified: true,
            first_name: String::new(),
            last_name: String::new(),
            display_name: username.into(),
            is_admin: false,
            disabled,
            created_at: 1,
            updated_at: 1,
        };
        store
            .create_user(&person("u1", "alice", "alice@example.com", false))
            .await
            .unwrap();
        store
            .create_user(&person("u2", "bob", "bob@example.com", true))
            .await
            .unwrap();
        for (id, name) in [("g1", "admins"), ("g2", "eng")] {
            store
                .create_group(&Group {
                    id: GroupId::from(id),
                    name: name.into(),
                    friendly_name: name.into(),
                    created_at: 1,
                    updated_at: 1,
                })
                .await
                .unwrap();
            for user in ["u1", "u2"] {
                store
                    .create_group_member(&GroupId::from(id), &UserId::from(user))
                    .await
                    .unwrap();
            }
        }
        store
            .update_group_claim(&GroupId::from("g2"), "shell", &json!("bash"))
            .await
            .unwrap();
        store
            .update_user_claim(&UserId::from("u1"), "department", &json!("ops"))
            .await
            .unwrap();
        store
            .update_user_claim(&UserId::from("u1"), "node", &json!("evil"))
            .await
            .unwrap();

        let (id, userinfo) = idp.sign_in("127.0.0.2").await;
        let groups = json!(["group:eng", "grant-group", "admins", "eng"]);
        assert_eq!(id["groups"], groups, "{id:?}");
        assert_eq!(id["shell"], "bash");
        // The grant's claim wins over the directory's; protected names are never taken.
        assert_eq!(id["department"], "from-grant");
        assert_eq!(id["node"], "alice.tail1234.ts.net.");
        assert_eq!(
            userinfo["groups"],
            json!(["group:eng", "admins", "eng"]),
            "{userinfo:?}"
        );
        assert_eq!(userinfo["shell"], "bash");
        // A disabled directory entry adds nothing.
        let (id, userinfo) = idp.sign_in("127.0.0.3").await;
        assert!(
            id.get("groups").is_none() && id.get("shell").is_none(),
            "{id:?}"
        );
        assert!(userinfo.get("groups").is_none(), "{userinfo:?}");

        // Leaving a group shows at the next refresh (after the cache's 2 s).
        let code = idp.code_for("127.0.0.2").await;
        let (status, body) = idp.redeem(&code, &[]).await;
        assert_eq!(status, 200, "{body}");
        store
            .delete_group_member(&GroupId::from("g1"), &UserId::from("u1"))
            .await
            .unwrap();
        tokio::time::sleep(latchkey_tsidp::directory::TTL + Duration::from_millis(200)).await;
        let (status, body) = idp
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        let keys = idp.provider.keys.keys();
        let (_, id) =
            verify_jwt(body["id_token"].as_str().unwrap(), |kid| keys.verifier(kid)).unwrap();
        assert_eq!(id["groups"], json!(["group:eng", "grant-group", "eng"]));
        db.cleanup().await;
    }
}

/// The `openidconnect` crate as an independent relying party: discovery, a code + PKCE flow
/// for two tailnet users from two addresses, ID tokens verified by it (signature, issuer,
/// audience, nonce), userinfo through it. Two people, two identities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_client_signs_in_two_tailnet_users() {
    use openidconnect::TokenResponse;

    let fake = FakeTailscaled::start().await;
    for (addr, id, login, name) in [
        ("127.0.0.2", 1001, "alice@example.com", "Alice"),
        ("127.0.0.3", 1002, "bob@example.com", "Bob"),
    ] {
        let node = login.split('@').next().unwrap();
        fake.set_peer(
            ip(addr),
            whois_body(id, login, name, node, &["100.64.0.9"], vec![]),
        );
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let idp = start(&db, &fake, vec![]).await;
    let rp = RelyingParty::new(
        &http_client(),
        &idp.issuer,
        &idp.client_id,
        Some(&idp.secret),
        REDIRECT,
    )
    .await;

    let mut subjects = Vec::new();
    for (addr, login, name) in [
        ("127.0.0.2", "alice@example.com", "Alice"),
        ("127.0.0.3", "bob@example.com", "Bob"),
    ] {
        let sign_in = rp.sign_in(&["email", "profile"]);
        // The browser of this tailnet user: its connection comes from its own address.
        let browser = http_client_from(addr).get(sign_in.url.as_str());
        let q = authorization_response(browser, REDIRECT).await.unwrap();
        assert_eq!(q.get("state"), Some(sign_in.state.secret()));
        let token = rp.redeem(&q["code"], sign_in.verifier).await;
        let id_token = token.id_token().expect("an ID token");
        let claims = id_token
            .claims(&rp.client.id_token_verifier(), &sign_in.nonce)
            .expect("openidconnect verifies the ID token");
        assert_eq!(claims.email().map(|e| e.as_str()), Some(login));
        assert_eq!(
            claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
            Some(name)
        );
        let info = rp.userinfo(&token, claims.subject()).await;
        assert_eq!(info.subject(), claims.subject());
        subjects.push(claims.subject().as_str().to_owned());
    }
    assert_eq!(subjects, ["userid:1001", "userid:1002"]);
    db.cleanup().await;
}

fn tsidp() -> IssuerId {
    IssuerId::from("tsidp")
}
