//! Harness of the black-box suite: the real router served on a loopback port, an
//! [`Authenticator`] driven by request headers, a [`ClaimsSource`], and HTTP helpers.
//!
//! The test authenticator reads:
//! - `x-test-user: NAME`: signed in as NAME (`denied` → `Denied`, absent → `Interaction`);
//! - `x-test-auth-time: UNIX`: when that sign-in happened (default: now);
//! - `x-test-ignore-fresh: 1`: behave like a sloppy role that ignores `fresh_after`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use axum::http::{HeaderMap, HeaderValue, header};
use latchkey_oidc::clients::{NewClient, create_client};
use latchkey_oidc::jose::Alg;
use latchkey_oidc::{
    Authentication, Authenticator, AuthnRequest, BoxFuture, ClaimsSource, Principal, Provider,
    ProviderSettings, RoleError, Snapshot, StandardClaims,
};
use latchkey_store::{IssuerId, Store, Subject, unix_now};
use latchkey_testkit::{
    Backend, Pkce, Served, TestDb, basic, bind_loopback, http_client, master_key, query_map,
    with_headers,
};
use serde_json::{Map, Value, json};
use url::Url;

pub const USER: &str = "x-test-user";
pub const AUTH_TIME: &str = "x-test-auth-time";
pub const IGNORE_FRESH: &str = "x-test-ignore-fresh";

/// The scope most tests ask for.
pub const SCOPE: &str = "openid email profile groups offline_access";
pub const REDIRECT: &str = "https://rp.example/cb";
pub const POST_LOGOUT: &str = "https://rp.example/bye";

// ---------------------------------------------------------------------------------------------
// The role: authenticator and claims source.

/// What the engine asked the authenticator, for assertions.
#[derive(Clone, Debug)]
pub struct Seen {
    pub client_id: String,
    pub scope: String,
    pub fresh_after: Option<i64>,
    pub prompt_none: bool,
    pub consent_prompt: bool,
    pub resume_url: String,
    pub peer: Option<SocketAddr>,
}

pub struct TestAuthenticator {
    issuer: String,
    pub seen: Mutex<Vec<Seen>>,
}

impl TestAuthenticator {
    fn new(issuer: &str) -> TestAuthenticator {
        TestAuthenticator {
            issuer: issuer.to_owned(),
            seen: Mutex::new(Vec::new()),
        }
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the authenticator was never asked")
    }

    fn login_url(&self, resume: &str) -> String {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("resume", resume)
            .finish();
        format!("{}/login?{q}", self.issuer)
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Authenticator for TestAuthenticator {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, RoleError>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(Seen {
                client_id: req.client.id.0.clone(),
                scope: req.scope.to_owned(),
                fresh_after: req.fresh_after,
                prompt_none: req.prompt_none,
                consent_prompt: req.consent_prompt,
                resume_url: req.resume_url.get().to_owned(),
                peer: req.peer,
            });
            let login = self.login_url(req.resume_url.get());
            let Some(user) = header_str(req.headers, USER) else {
                return Ok(Authentication::Interaction(login));
            };
            match user {
                "denied" => Ok(Authentication::Denied("test user is not allowed".into())),
                "broken" => Err(RoleError::source(
                    "test",
                    std::io::Error::other("the test authenticator is broken"),
                )),
                "unavailable" => Ok(Authentication::Unavailable(
                    "The identity source is not answering.".into(),
                )),
                user => {
                    let auth_time = header_str(req.headers, AUTH_TIME)
                        .map(|t| t.parse::<i64>().expect("x-test-auth-time"))
                        .unwrap_or_else(unix_now);
                    let sloppy = header_str(req.headers, IGNORE_FRESH).is_some();
                    if !sloppy && req.fresh_after.is_some_and(|t| auth_time < t) {
                        return Ok(Authentication::Interaction(login));
                    }
                    let standard = StandardClaims {
                        name: Some(display_name(user)),
                        preferred_username: Some(user.to_owned()),
                        ..Default::default()
                    };
                    Ok(Authentication::Authenticated(Principal {
                        subject: Subject::from(user),
                        auth_time,
                        amr: vec!["pwd".into()],
                        snapshot: Snapshot::new(standard),
                    }))
                }
            }
        })
    }

    fn end_session<'a>(&'a self, _headers: &'a HeaderMap) -> BoxFuture<'a, HeaderMap> {
        Box::pin(async {
            let mut h = HeaderMap::new();
            h.insert(
                header::SET_COOKIE,
                HeaderValue::from_static("test_session=; Max-Age=0; Path=/"),
            );
            h
        })
    }
}

pub fn display_name(user: &str) -> String {
    let mut c = user.chars();
    match c.next() {
        Some(f) => format!("{}{} Example", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

/// Releases email/profile/groups claims per scope. It is careless on purpose: it also returns
/// registered claims (`iss`, `sub`, `aud`, `exp`, `nonce`), which the engine must drop.
/// For the subject `flaky` it fails (an unreachable directory) as many times as
/// [`FLAKY_FAILURES`] says; `gone` is a deleted account.
pub struct TestClaims;

/// How many more times the claims of `flaky` fail. One test uses it.
pub static FLAKY_FAILURES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl ClaimsSource for TestClaims {
    fn claims<'a>(
        &'a self,
        subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Snapshot,
        _purpose: latchkey_oidc::ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>> {
        Box::pin(async move {
            use std::sync::atomic::Ordering;
            if subject.as_str() == "flaky"
                && FLAKY_FAILURES
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(RoleError::source(
                    "directory",
                    std::io::Error::other("the directory is not answering"),
                ));
            }
            if subject.as_str() == "gone" {
                return Err(RoleError::Gone);
            }
            let mut m = Map::new();
            m.insert("iss".into(), json!("https://evil.example"));
            m.insert("sub".into(), json!("mallory"));
            m.insert("aud".into(), json!("evil"));
            m.insert("exp".into(), json!(1));
            m.insert("nonce".into(), json!("evil"));
            let sub = subject.as_str();
            for s in scopes {
                match *s {
                    "email" => {
                        m.insert("email".into(), json!(format!("{sub}@example.com")));
                        m.insert("email_verified".into(), json!(true));
                    }
                    "profile" => {
                        let standard = snapshot.standard.to_map();
                        for k in ["name", "preferred_username"] {
                            if let Some(v) = standard.get(k) {
                                m.insert(k.into(), v.clone());
                            }
                        }
                    }
                    "groups" => {
                        m.insert("groups".into(), json!(["staff", format!("{sub}-team")]));
                    }
                    _ => {}
                }
            }
            Ok(m)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The server.

pub struct Server {
    pub issuer: String,
    pub addr: SocketAddr,
    pub provider: Arc<Provider>,
    pub authn: Arc<TestAuthenticator>,
    pub http: reqwest::Client,
    served: Served,
}

impl Server {
    /// Serves a new Provider on `store`, on 127.0.0.1:`port` (0: any free port), once it has
    /// every signing key.
    pub async fn start(
        store: Store,
        port: u16,
        tweak: impl FnOnce(&mut ProviderSettings),
    ) -> Server {
        Server::start_with(store, port, tweak, true).await
    }

    /// Like [`Server::start`]; with `wait_for_keys` false it serves as soon as the Provider
    /// exists, as the binary does.
    pub async fn start_with(
        store: Store,
        port: u16,
        tweak: impl FnOnce(&mut ProviderSettings),
        wait_for_keys: bool,
    ) -> Server {
        let listener = bind_loopback(port).await;
        let addr = listener.local_addr().expect("local addr");
        let issuer = format!("http://{addr}");
        let mut settings = ProviderSettings::new(IssuerId::from("idp"), &issuer);
        tweak(&mut settings);
        let authn = Arc::new(TestAuthenticator::new(&issuer));
        let provider = Arc::new(
            Provider::new(
                settings,
                store,
                master_key(),
                authn.clone(),
                Arc::new(TestClaims),
            )
            .await
            .expect("Provider::new"),
        );
        // Most tests want every key at once; the first moments of a first start have their
        // own test (`a_first_start_serves_before_its_rsa_key_exists`).
        if wait_for_keys {
            provider.wait_for_keys().await.expect("signing keys");
        }
        let served = Served::start(listener, latchkey_oidc::router(provider.clone()));
        Server {
            issuer,
            addr,
            provider,
            authn,
            http: http_client(),
            served,
        }
    }

    /// Stops serving, waits for the server to finish and closes its store. Returns a weak
    /// reference that must no longer upgrade: the Provider is gone.
    pub async fn stop(self) -> Weak<Provider> {
        self.served.stop().await;
        let weak = Arc::downgrade(&self.provider);
        let store = self.provider.store.clone();
        drop(self.provider);
        store.close().await;
        weak
    }

    /// This server's own address (a replica's issuer may name another).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    // --- clients -------------------------------------------------------------------------

    pub async fn client_with(&self, spec: ClientSpec) -> TestClient {
        let created = create_client(
            &self.provider.store,
            self.provider.issuer_id(),
            NewClient {
                name: "test app".into(),
                redirect_uris: spec.redirect_uris.clone(),
                post_logout_redirect_uris: spec.post_logout.clone(),
                public: spec.public,
                id_token_alg: spec.alg,
                metadata: spec.metadata.clone(),
            },
        )
        .await
        .expect("create_client");
        TestClient {
            id: created.client.id.0.clone(),
            secret: created.secret,
            redirect_uri: spec.redirect_uris[0].clone(),
            alg: spec.alg,
            auth: if spec.public {
                ClientAuth::None
            } else {
                spec.auth
            },
        }
    }

    /// Confidential, RS256, client_secret_basic.
    pub async fn confidential(&self) -> TestClient {
        self.client_with(ClientSpec::default()).await
    }

    /// Public (no secret), RS256.
    pub async fn public_client(&self) -> TestClient {
        self.client_with(ClientSpec {
            public: true,
            ..ClientSpec::default()
        })
        .await
    }

    // --- raw HTTP ------------------------------------------------------------------------

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        Resp::from(rb.send().await.expect("HTTP request")).await
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(with_headers(self.http.get(url), headers)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.http.post(self.url(path)).body(body.into());
        if let Some(ct) = content_type {
            rb = rb.header(header::CONTENT_TYPE.as_str(), ct);
        }
        self.send(with_headers(rb, headers)).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        self.post_raw(path, Some(FORM), form(pairs), headers).await
    }

    /// GET /authorize with `params`, signed in as `user` (or not at all).
    pub async fn authorize(&self, params: &[(&str, &str)], user: Option<&str>) -> Resp {
        let mut headers = Vec::new();
        if let Some(u) = user {
            headers.push((USER, u));
        }
        self.authorize_with(params, &headers).await
    }

    pub async fn authorize_with(&self, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        self.get(
            &format!("{}?{}", self.url("/authorize"), form(params)),
            headers,
        )
        .await
    }

    /// POST /token as `client`, authenticating the way the client does.
    pub async fn token(&self, client: &TestClient, pairs: &[(&str, &str)]) -> Resp {
        self.token_like("/token", client, pairs).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Resp {
        self.get(
            &self.url("/userinfo"),
            &[("authorization", &format!("Bearer {access_token}"))],
        )
        .await
    }

    pub async fn introspect(&self, by: &TestClient, token: &str) -> Resp {
        self.token_like("/introspect", by, &[("token", token)])
            .await
    }

    pub async fn revoke(&self, by: &TestClient, token: &str) -> Resp {
        self.token_like("/revoke", by, &[("token", token)]).await
    }

    /// A back-channel POST authenticated as `by`.
    pub async fn token_like(&self, path: &str, by: &TestClient, pairs: &[(&str, &str)]) -> Resp {
        let mut pairs: Vec<(&str, &str)> = pairs.to_vec();
        let mut headers = Vec::new();
        let basic_value;
        match by.auth {
            ClientAuth::Basic => {
                basic_value = basic(&by.id, by.secret.as_deref().unwrap_or_default());
                headers.push(("authorization", basic_value.as_str()));
            }
            ClientAuth::Post => {
                pairs.push(("client_id", &by.id));
                pairs.push(("client_secret", by.secret.as_deref().unwrap_or_default()));
            }
            ClientAuth::None => pairs.push(("client_id", &by.id)),
        }
        self.post_form(path, &pairs, &headers).await
    }

    /// Whether introspection (by `by`) says the token is active.
    pub async fn active(&self, by: &TestClient, token: &str) -> bool {
        let r = self.introspect(by, token).await;
        assert_eq!(r.status, 200, "introspection: {}", r.body);
        r.json()["active"]
            .as_bool()
            .expect("introspection answer has a boolean active")
    }

    pub async fn jwks_kids(&self) -> Vec<String> {
        let r = self.get(&self.url("/.well-known/jwks.json"), &[]).await;
        assert_eq!(r.status, 200);
        let mut kids: Vec<String> = r.json()["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect();
        kids.sort();
        kids
    }

    // --- flows ---------------------------------------------------------------------------

    /// The authorization request parameters of a normal code + PKCE request, with `extra`
    /// replacing same-named ones (an empty value removes the parameter).
    pub fn auth_params(
        &self,
        client: &TestClient,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let base = [
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("scope", SCOPE),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let mut out: Vec<(String, String)> = base
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in extra {
            if !v.is_empty() {
                out.push((k.to_string(), v.to_string()));
            }
        }
        out
    }

    /// Runs /authorize as `user` and returns the code (the request must succeed).
    pub async fn code(
        &self,
        client: &TestClient,
        user: &str,
        extra: &[(&str, &str)],
    ) -> (String, Pkce) {
        let pkce = Pkce::new();
        let params = self.auth_params(client, &pkce, extra);
        let r = self.authorize(&refs(&params), Some(user)).await;
        let q = r.redirect_params(&client.redirect_uri);
        let code = q
            .get("code")
            .unwrap_or_else(|| panic!("no code in the authorization response: {q:?}"))
            .clone();
        (code, pkce)
    }

    pub async fn redeem(&self, client: &TestClient, code: &str, verifier: Option<&str>) -> Resp {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri.as_str()),
        ];
        if let Some(v) = verifier {
            pairs.push(("code_verifier", v));
        }
        self.token(client, &pairs).await
    }

    /// A whole code flow for `user`; returns the tokens.
    pub async fn login(&self, client: &TestClient, user: &str) -> Tokens {
        let (code, pkce) = self.code(client, user, &[]).await;
        let r = self.redeem(client, &code, Some(&pkce.verifier)).await;
        assert_eq!(r.status, 200, "token: {}", r.body);
        Tokens::from(r.json())
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> Resp {
        self.token(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }
}

/// A fresh database and a server on it.
pub struct Harness {
    pub db: TestDb,
    pub srv: Server,
}

impl Harness {
    pub async fn new(backend: Backend) -> Harness {
        Harness::with(backend, |_| {}).await
    }

    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut ProviderSettings)) -> Harness {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let srv = Server::start(store, 0, tweak).await;
        Harness { db, srv }
    }

    pub async fn finish(self) {
        self.srv.stop().await;
        self.db.cleanup().await;
    }
}

impl std::ops::Deref for Harness {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.srv
    }
}

// ---------------------------------------------------------------------------------------------
// Clients, PKCE, tokens.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
    None,
}

#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub public: bool,
    pub alg: Alg,
    pub auth: ClientAuth,
    pub redirect_uris: Vec<String>,
    pub post_logout: Vec<String>,
    pub metadata: Value,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            public: false,
            alg: Alg::RS256,
            auth: ClientAuth::Basic,
            redirect_uris: vec![REDIRECT.into()],
            post_logout: vec![POST_LOGOUT.into()],
            metadata: json!({}),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    pub alg: Alg,
    pub auth: ClientAuth,
}

#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: Option<String>,
    pub id: Option<String>,
    pub body: Value,
}

impl From<Value> for Tokens {
    fn from(body: Value) -> Tokens {
        Tokens {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"].as_str().map(str::to_owned),
            id: body["id_token"].as_str().map(str::to_owned),
            body,
        }
    }
}

impl Tokens {
    pub fn refresh_token(&self) -> &str {
        self.refresh.as_deref().expect("refresh_token")
    }
    pub fn id_token(&self) -> &str {
        self.id.as_deref().expect("id_token")
    }
}

// ---------------------------------------------------------------------------------------------
// Responses and assertions.

pub const FORM: &str = "application/x-www-form-urlencoded";

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.expect("response body");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    pub fn is_html(&self) -> bool {
        self.content_type().starts_with("text/html")
    }

    pub fn location(&self) -> Option<Url> {
        self.header("location")
            .map(|l| Url::parse(l).unwrap_or_else(|e| panic!("bad Location {l:?}: {e}")))
    }

    /// The 303 must go to `target` (ignoring the query); returns its query parameters.
    pub fn redirect_params(&self, target: &str) -> HashMap<String, String> {
        assert_eq!(self.status, 303, "expected a redirect, got: {}", self.body);
        let loc = self.location().expect("Location");
        let mut bare = loc.clone();
        bare.set_query(None);
        assert_eq!(bare.as_str(), target, "redirected to {loc}");
        query_map(&loc)
    }

    /// Nothing in this response hands out a code or a token.
    pub fn assert_nothing_issued(&self, ctx: &str) {
        if let Some(loc) = self.location() {
            let q = query_map(&loc);
            assert!(!q.contains_key("code"), "{ctx}: code in {loc}");
            assert!(!q.contains_key("access_token"), "{ctx}: token in {loc}");
            assert!(loc.fragment().is_none(), "{ctx}: fragment in {loc}");
        }
        let v = self.json();
        for k in ["access_token", "refresh_token", "id_token", "code"] {
            assert!(v.get(k).is_none(), "{ctx}: {k} in {}", self.body);
        }
        assert!(
            !self.body.contains("name=\"code\""),
            "{ctx}: code in the page: {}",
            self.body
        );
    }

    /// A 400 HTML page for the person, never a redirect.
    pub fn assert_error_page(&self, ctx: &str) {
        assert_eq!(self.status, 400, "{ctx}: {}", self.body);
        assert!(
            self.is_html(),
            "{ctx}: content-type {}",
            self.content_type()
        );
        assert!(self.header("location").is_none(), "{ctx}: Location header");
        self.assert_nothing_issued(ctx);
    }

    /// A 303 back to `redirect_uri` with `error`, `iss` and (when sent) `state`.
    pub fn assert_redirect_error(&self, issuer: &str, redirect_uri: &str, error: &str, ctx: &str) {
        let q = self.redirect_params(redirect_uri);
        assert_eq!(
            q.get("error").map(String::as_str),
            Some(error),
            "{ctx}: {q:?}"
        );
        assert_eq!(
            q.get("iss").map(String::as_str),
            Some(issuer),
            "{ctx}: {q:?}"
        );
        self.assert_nothing_issued(ctx);
    }

    /// An RFC 6749 §5.2 JSON error.
    pub fn assert_oauth_error(&self, status: u16, error: &str, ctx: &str) {
        assert_eq!(self.status, status, "{ctx}: {}", self.body);
        assert!(
            self.content_type().starts_with("application/json"),
            "{ctx}: content-type {}",
            self.content_type()
        );
        assert_eq!(self.json()["error"], error, "{ctx}: {}", self.body);
        self.assert_nothing_issued(ctx);
    }

    /// RFC 6750 invalid_token at a protected resource.
    pub fn assert_invalid_token(&self, ctx: &str) {
        assert_eq!(self.status, 401, "{ctx}: {}", self.body);
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{ctx}: WWW-Authenticate {challenge:?}"
        );
        assert_eq!(self.json()["error"], "invalid_token", "{ctx}");
        assert!(
            self.json().get("sub").is_none(),
            "{ctx}: claims were released"
        );
    }
}

/// Borrowed view of owned pairs.
pub fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// application/x-www-form-urlencoded of `pairs`, in order (repeats kept).
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The value of the hidden `<input name=NAME value=...>` of a form_post page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    // The pages are askama's, which escapes with numeric references; `&` last.
    Some(
        html[start..end]
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&"),
    )
}
