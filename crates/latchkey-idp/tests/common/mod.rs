//! The idp role and its engine served in process for the HTTP tests, with a browser's cookie
//! jar; each test file adds the steps it needs.
#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::sync::Arc;

use latchkey_idp::passkey::PasskeySettings;
use latchkey_idp::{DirectoryClaims, Idp, IdpSettings, SessionAuthenticator};
use latchkey_oidc::{Provider, ProviderSettings};
use latchkey_store::{IssuerId, Store};
use latchkey_testkit::{Served, TestDb, backends, bind_loopback, http_client, master_key};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use serde_json::Value;

pub const REDIRECT: &str = "https://app.example/cb";

pub fn idp_id() -> IssuerId {
    IssuerId::from("idp")
}

/// The idp role and its engine on a loopback port, issuer `http://localhost:PORT`.
pub struct Harness {
    pub base: String,
    pub store: Store,
    pub http: reqwest::Client,
    _served: Served,
}

pub async fn start(db: &TestDb) -> Harness {
    let listener = bind_loopback(0).await;
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let store = db.store().await;
    let settings = IdpSettings {
        issuer: base.clone(),
        issuer_id: idp_id(),
        session_duration: 3600,
        trusted_proxies: vec![],
        passkeys: PasskeySettings {
            rp_id: "localhost".into(),
            origin: base.clone(),
            ..PasskeySettings::default()
        },
    };
    let idp = Idp::new(store.clone(), settings, &master_key()).unwrap();
    let provider = Arc::new(
        Provider::new(
            ProviderSettings {
                device_flow: true,
                backchannel_logout: true,
                ..ProviderSettings::new(idp_id(), &base)
            },
            store.clone(),
            master_key(),
            Arc::new(SessionAuthenticator::new(idp.clone())),
            Arc::new(DirectoryClaims::new(store.clone())),
        )
        .await
        .unwrap(),
    );
    provider.wait_for_keys().await.unwrap();
    // As the binary does: ended sessions are told to the clients.
    let engine = Arc::downgrade(&provider);
    idp.set_logout_notifier(Box::new(move |subject, sid| {
        if let Some(engine) = engine.upgrade() {
            tokio::spawn(async move {
                let _ = engine.backchannel_logout(&subject, sid.as_deref()).await;
            });
        }
    }));
    let app = latchkey_oidc::router(provider).merge(latchkey_idp::router(idp));
    Harness {
        base,
        store,
        http: http_client(),
        _served: Served::start(listener, app),
    }
}

/// A browser's cookies for the harness (one host, so names are enough).
#[derive(Default, Clone)]
pub struct Jar(pub HashMap<String, String>);

impl Jar {
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn take(&mut self, r: &reqwest::Response) {
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.0.remove(k);
            } else {
                self.0.insert(k.to_owned(), v.to_owned());
            }
        }
    }
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Answer {
    /// The value of the hidden or text field `name` in an HTML answer.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("{name}: {}", self.body))
            + marker.len();
        self.body[at..at + self.body[at..].find('"').unwrap()].replace("&#38;", "&")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn send(&self, jar: &mut Jar, req: reqwest::RequestBuilder) -> Answer {
        let r = req.header(COOKIE, jar.header()).send().await.unwrap();
        jar.take(&r);
        let header = |name| {
            r.headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (location, retry_after) = (header(LOCATION), header(RETRY_AFTER));
        Answer {
            status: r.status().as_u16(),
            location,
            retry_after,
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, jar: &mut Jar, path: &str) -> Answer {
        self.send(jar, self.http.get(self.url(path))).await
    }

    pub async fn post_json(&self, jar: &mut Jar, path: &str, body: &[u8]) -> Answer {
        let req = self
            .http
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        self.send(jar, req).await
    }

    /// A form posted from one of our pages, as a browser sends it (with `Origin`).
    pub async fn post_form(&self, jar: &mut Jar, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.http.post(self.url(path)).header("origin", &self.base);
        self.send(jar, req.form(form)).await
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn query(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let h = start(&db).await;
        let store = h.store.clone();
        test(h).await;
        store.close().await;
        db.cleanup().await;
    }
}
