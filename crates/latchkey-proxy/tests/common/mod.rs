//! The proxy's end-to-end harness: Latchkey's own OpenID Provider engine in process (with a
//! test authenticator: the browser names its user in `x-test-user` at `/authorize`), an
//! upstream that echoes what it receives, the proxy in front of it, and a browser that
//! keeps cookies.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::IntoResponse;
use latchkey_oidc::clients::{NewClient, create_client};
use latchkey_oidc::jose::Alg;
use latchkey_oidc::{
    Authentication, Authenticator, AuthnRequest, BoxFuture, ClaimsFor, ClaimsSource, Principal,
    Provider, ProviderSettings as OpSettings, RoleError, Snapshot, StandardClaims,
};
use latchkey_proxy::{Proxy, ProxySettings};
use latchkey_store::{IssuerId, Store, Subject, unix_now};
use latchkey_testkit::{Backend, Served, TestDb, bind_loopback, master_key};
use serde_json::{Map, Value, json};

pub const USER: &str = "x-test-user";

struct TestAuthenticator;

impl Authenticator for TestAuthenticator {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, RoleError>> {
        Box::pin(async move {
            let Some(user) = req.headers.get(USER).and_then(|v| v.to_str().ok()) else {
                return Ok(Authentication::Interaction("/login".into()));
            };
            Ok(Authentication::Authenticated(Principal {
                subject: Subject::from(user),
                auth_time: unix_now(),
                amr: vec!["pwd".into()],
                snapshot: Snapshot::new(StandardClaims {
                    preferred_username: Some(user.to_owned()),
                    ..Default::default()
                }),
            }))
        })
    }

    fn end_session<'a>(&'a self, _headers: &'a HeaderMap) -> BoxFuture<'a, HeaderMap> {
        Box::pin(async { HeaderMap::new() })
    }
}

/// `email` = `{sub}@example.com` (verified), groups `staff` and `{sub}-team`, and the
/// preferred username; `mallory`'s address is not verified.
struct TestClaims;

impl ClaimsSource for TestClaims {
    fn claims<'a>(
        &'a self,
        subject: &'a Subject,
        scopes: &'a [&'a str],
        _snapshot: &'a Snapshot,
        _purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>> {
        Box::pin(async move {
            let sub = subject.as_str();
            let mut m = Map::new();
            for s in scopes {
                match *s {
                    "email" => {
                        m.insert("email".into(), json!(format!("{sub}@example.com")));
                        m.insert("email_verified".into(), json!(sub != "mallory"));
                    }
                    "profile" => {
                        m.insert("preferred_username".into(), json!(sub));
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

/// The upstream: answers every request with what it received, as JSON.
async fn echo(req: Request) -> axum::response::Response {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    axum::Json(json!({"method": req.method().as_str(), "path": path, "headers": headers}))
        .into_response()
}

/// The echo upstream on its own port: the server and its URL.
pub async fn start_echo_upstream() -> (Served, String) {
    let listener = bind_loopback(0).await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    (Served::start(listener, Router::new().fallback(echo)), url)
}

pub struct World {
    pub db: TestDb,
    pub store: Store,
    pub op: Served,
    pub op_url: String,
    pub provider: Arc<Provider>,
    /// Requests to the provider's token endpoint.
    pub token_requests: Arc<AtomicUsize>,
    /// Requests for the provider's JWKS.
    pub jwks_requests: Arc<AtomicUsize>,
    pub upstream: Served,
    pub upstream_url: String,
    pub proxy: Served,
    pub proxy_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub settings: ProxySettings,
}

impl World {
    pub async fn start(tweak: impl FnOnce(&mut ProxySettings)) -> World {
        World::start_on(Backend::Sqlite, tweak).await
    }

    pub async fn start_on(backend: Backend, tweak: impl FnOnce(&mut ProxySettings)) -> World {
        World::build(backend, None, |_| {}, tweak).await
    }

    /// A world whose proxy people reach through a web server at `front` (nginx, Caddy):
    /// the client's redirect URI and the proxy's callback are on `front`. `op_tweak` adjusts
    /// the provider (token lifetimes, say).
    pub async fn start_behind(
        front: &str,
        op_tweak: impl FnOnce(&mut OpSettings),
        tweak: impl FnOnce(&mut ProxySettings),
    ) -> World {
        World::build(Backend::Sqlite, Some(front), op_tweak, tweak).await
    }

    async fn build(
        backend: Backend,
        front: Option<&str>,
        op_tweak: impl FnOnce(&mut OpSettings),
        tweak: impl FnOnce(&mut ProxySettings),
    ) -> World {
        let db = TestDb::new(backend).await;
        let store = db.store().await;

        let op_listener = bind_loopback(0).await;
        let op_url = format!("http://{}", op_listener.local_addr().unwrap());
        let mut op_settings = OpSettings::new(IssuerId::from("idp"), &op_url);
        op_tweak(&mut op_settings);
        let provider = Arc::new(
            Provider::new(
                op_settings,
                store.clone(),
                master_key(),
                Arc::new(TestAuthenticator),
                Arc::new(TestClaims),
            )
            .await
            .expect("Provider::new"),
        );
        provider.wait_for_keys().await.expect("keys");
        let token_requests = Arc::new(AtomicUsize::new(0));
        let jwks_requests = Arc::new(AtomicUsize::new(0));
        let (tokens, jwks) = (token_requests.clone(), jwks_requests.clone());
        let op_app = latchkey_oidc::router(provider.clone()).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let (tokens, jwks) = (tokens.clone(), jwks.clone());
                async move {
                    match req.uri().path() {
                        "/token" => tokens.fetch_add(1, Ordering::SeqCst),
                        "/.well-known/jwks.json" => jwks.fetch_add(1, Ordering::SeqCst),
                        _ => 0,
                    };
                    next.run(req).await
                }
            },
        ));
        let op = Served::start(op_listener, op_app);

        let up_listener = bind_loopback(0).await;
        let upstream_url = format!("http://{}", up_listener.local_addr().unwrap());
        let upstream = Served::start(up_listener, Router::new().fallback(echo));

        let proxy_listener = bind_loopback(0).await;
        let proxy_url = format!("http://{}", proxy_listener.local_addr().unwrap());
        let callback = format!("{}/oauth2/callback", front.unwrap_or(&proxy_url));
        let created = create_client(
            &store,
            &IssuerId::from("idp"),
            NewClient {
                name: "proxy".into(),
                redirect_uris: vec![callback.clone()],
                // Where RP-initiated logout may come back to: the sign-in page and one
                // whitelisted address.
                post_logout_redirect_uris: vec![
                    format!("{proxy_url}/oauth2/sign_in"),
                    "https://app.example.org/bye".into(),
                ],
                public: false,
                id_token_alg: Alg::ES256,
                metadata: json!({}),
            },
        )
        .await
        .expect("client");
        let client_id = created.client.id.0.clone();
        let client_secret = created.secret.expect("secret");
        let mut settings = ProxySettings::new(
            "proxy",
            &op_url,
            &client_id,
            Some(&client_secret),
            &callback,
        );
        settings.provider.scope = "openid email profile groups".into();
        settings.provider.timeout = Duration::from_secs(2);
        settings.cookie.secure = false;
        settings.email_domains = vec!["example.com".into()];
        settings.upstreams = vec![format!("{upstream_url}/")];
        settings.whitelist_domains = vec!["app.example.org".into()];
        tweak(&mut settings);
        let proxy = Proxy::new(settings.clone(), store.clone(), master_key()).expect("proxy");
        let proxy = Served::start(proxy_listener, latchkey_proxy::router(proxy));
        World {
            db,
            store,
            op,
            op_url,
            provider,
            token_requests,
            jwks_requests,
            upstream,
            upstream_url,
            proxy,
            proxy_url,
            client_id,
            client_secret,
            settings,
        }
    }

    /// Another proxy on the same store and proxy id (a replica), with other settings.
    pub async fn replica(&self, tweak: impl FnOnce(&mut ProxySettings)) -> (Served, String) {
        let listener = bind_loopback(0).await;
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        let proxy = Proxy::new(settings, self.store.clone(), master_key()).expect("replica");
        (Served::start(listener, latchkey_proxy::router(proxy)), url)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proxy_url)
    }

    pub fn jwks_reads(&self) -> usize {
        self.jwks_requests.load(Ordering::SeqCst)
    }

    pub fn tokens(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// The whole sign-in: start → provider (as `user`) → callback. Returns the callback's
    /// answer (a redirect to where the person was going, with the session cookie).
    pub async fn sign_in(&self, browser: &Browser, user: &str, rd: &str) -> Resp {
        self.sign_in_at(&self.proxy_url, browser, user, rd).await
    }

    /// [`World::sign_in`] with the proxy's pages reached at `base` (a web server in front).
    pub async fn sign_in_at(&self, base: &str, browser: &Browser, user: &str, rd: &str) -> Resp {
        let start = browser
            .get(&format!("{base}/oauth2/start?rd={}", enc(rd)), &[])
            .await;
        assert_eq!(start.status, 302, "start: {}", start.body);
        let authorize = start.location();
        assert!(authorize.starts_with(&self.op_url), "{authorize}");
        assert!(
            authorize.contains("code_challenge_method=S256"),
            "{authorize}"
        );
        assert!(authorize.contains("nonce="), "{authorize}");
        let op = browser.get(&authorize, &[(USER, user)]).await;
        assert_eq!(op.status, 303, "authorize: {}", op.body);
        let callback = op.location();
        assert!(
            callback.starts_with(&format!("{base}/oauth2/callback")),
            "{callback}"
        );
        browser.get(&callback, &[]).await
    }

    /// The proxy's client at the provider.
    pub async fn client(&self) -> Arc<latchkey_store::Client> {
        self.provider
            .find_client(&latchkey_store::ClientId::from(self.client_id.as_str()))
            .await
            .unwrap()
            .unwrap()
    }

    /// Posts `token` to the proxy's back-channel logout endpoint: status and body.
    pub async fn post_logout(&self, token: &str) -> (u16, String) {
        let r = reqwest::Client::new()
            .post(self.url("/oauth2/backchannel_logout"))
            .form(&[("logout_token", token)])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn stop(self) {
        self.proxy.stop().await;
        self.upstream.stop().await;
        self.op.stop().await;
        self.store.close().await;
        self.db.cleanup().await;
    }
}

/// One raw HTTP/1.1 request (the target as written: no client normalises it), with this
/// `Cookie` header; the answer's status (0 when the connection closed first).
pub async fn raw_status(proxy_url: &str, target: &str, cookie: Option<&str>) -> u16 {
    let addr = proxy_url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut conn, request.as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut answer).await;
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Twenty requests at once from `b` (to `urls` in turn), each answered 200 by the upstream
/// for alice: the access tokens the upstream saw, and how many answers renewed the cookie.
pub async fn twenty_at_once(
    b: &Arc<Browser>,
    urls: &[String],
) -> (std::collections::HashSet<Vec<String>>, usize) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let b = b.clone();
        let url = format!("{}/{i}", urls[i % urls.len()]);
        tasks.push(tokio::spawn(async move { b.get(&url, &[]).await }));
    }
    let mut set_cookie = 0;
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
        tokens.insert(r.upstream_header("x-forwarded-access-token"));
        if r.set_cookies()
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy="))
        {
            set_cookie += 1;
        }
    }
    (tokens, set_cookie)
}

/// Sessions due for a refresh every 2 s, the access token shown to the upstream (to see
/// which one a request carried).
pub fn refresh_often(s: &mut ProxySettings) {
    s.cookie.refresh = Duration::from_secs(2);
    s.headers.pass_access_token = true;
}

/// Alice's session (signed in with `b`, `cookie_refresh` 2 s) made due, then twenty requests
/// at once, on this proxy and on `replicas` (their `/app` URLs): exactly one refresh at the
/// provider, every request with the new token, one `Set-Cookie`. Returns the provider's
/// token count before.
pub async fn one_refresh_for_twenty(w: &World, b: &Arc<Browser>, replicas: &[String]) -> usize {
    let first = b.get(&w.url("/app"), &[]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first_token = first.upstream_header("x-forwarded-access-token");
    assert_eq!(first_token.len(), 1);
    let before = w.tokens();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let mut urls = vec![w.url("/app")];
    urls.extend(replicas.iter().cloned());
    let (tokens, set_cookie) = twenty_at_once(b, &urls).await;
    assert_eq!(
        w.tokens() - before,
        1,
        "exactly one refresh at the provider"
    );
    assert_eq!(set_cookie, 1, "the refreshing request renews the cookie");
    assert_eq!(
        tokens.len(),
        1,
        "every request carried the new token: {tokens:?}"
    );
    assert!(!tokens.contains(&first_token));
    before
}

/// Settings for checks that need no provider (nothing is started).
pub fn offline_settings() -> ProxySettings {
    ProxySettings::new(
        "p",
        "https://id.example.com",
        "c",
        None,
        "https://app.example.com/oauth2/callback",
    )
}

pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> String {
        self.header("location").expect("Location").to_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// What the echo upstream received in header `name` (every value).
    pub fn upstream_header(&self, name: &str) -> Vec<String> {
        self.json()["headers"][name]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn is_html(&self) -> bool {
        self.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    }
}

/// What the echo upstream must have received for `user` of the test claims (the `sub`,
/// `{user}@example.com`, groups `staff` and `{user}-team`, the preferred username).
pub fn assert_upstream_identity(r: &Resp, user: &str) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_header("x-forwarded-user"), [user]);
    assert_eq!(
        r.upstream_header("x-forwarded-email"),
        [format!("{user}@example.com")]
    );
    assert_eq!(
        r.upstream_header("x-forwarded-groups"),
        [format!("staff,{user}-team")]
    );
    assert_eq!(r.upstream_header("x-forwarded-preferred-username"), [user]);
}

/// A browser that keeps cookies (all of them, by name; the tests run on one host).
pub struct Browser {
    http: reqwest::Client,
    pub jar: Mutex<BTreeMap<String, String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Browser::built(reqwest::Client::builder())
    }

    /// A browser whose connections come from `ip` (on the loopback network, 127.0.0.0/8).
    pub fn from_address(ip: &str) -> Browser {
        Browser::built(
            reqwest::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()),
        )
    }

    fn built(builder: reqwest::ClientBuilder) -> Browser {
        Browser {
            http: builder
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(self.http.get(url), headers).await
    }

    pub async fn send(&self, mut rb: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> Resp {
        let cookies = {
            let jar = self.jar.lock().unwrap();
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !cookies.is_empty() {
            rb = rb.header("cookie", cookies);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.expect("HTTP request");
        let resp = Resp {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.expect("body"),
        };
        let mut jar = self.jar.lock().unwrap();
        for c in resp.set_cookies() {
            let (pair, attrs) = c.split_once(';').unwrap_or((&c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        resp
    }
}
