//! panva's `oidc-provider`, run by `e2e/fixtures/oidc_provider.mjs`: the process, and the
//! fixture's test API (its counts, claims changes, key rotation).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use latchkey_testkit::Process;
use serde_json::Value;

use crate::common::Browser;

pub const CLIENT_ID: &str = "latchkey-proxy";
/// With characters that client_secret_basic must form-encode before Base64 (RFC 6749 §2.3.1).
pub const CLIENT_SECRET: &str = "s3cret:with%special+chars &=/~";

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

/// What the provider's logout tokens say, if it sends any.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Backchannel {
    /// No back-channel logout URI registered.
    Off,
    /// The provider session (`sid`, also in ID tokens).
    Sid,
    /// Only the person (`sub`).
    Sub,
}

/// How the provider is started.
pub struct OpOptions {
    /// Access and ID token lifetime, in seconds.
    pub token_ttl: u64,
    pub backchannel: Backchannel,
    /// What ID and logout tokens are signed with.
    pub signing_alg: &'static str,
}

impl Default for OpOptions {
    fn default() -> Self {
        OpOptions {
            token_ttl: 3600,
            backchannel: Backchannel::Sid,
            signing_alg: "RS256",
        }
    }
}

/// The provider process and its test API.
pub struct Op {
    _process: Process,
    pub issuer: String,
    http: reqwest::Client,
}

impl Op {
    pub fn start(proxy_url: &str, options: &OpOptions) -> Op {
        let dir = e2e_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "e2e/node_modules/oidc-provider is missing: run ./scripts/test.sh (it runs `npm ci` in e2e/)"
        );
        let ttl = options.token_ttl.to_string();
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("fixtures/oidc_provider.mjs"))
            .current_dir(&dir)
            .env("OP_PORT", "0")
            .env("OP_CLIENT_ID", CLIENT_ID)
            .env("OP_CLIENT_SECRET", CLIENT_SECRET)
            .env("OP_REDIRECT_URI", format!("{proxy_url}/oauth2/callback"))
            .env("OP_ACCESS_TOKEN_TTL", &ttl)
            .env("OP_ID_TOKEN_TTL", &ttl)
            .env("OP_SIGNING_ALG", options.signing_alg)
            // Held open until the process is dropped: the fixture exits when it closes.
            .stdin(Stdio::piped());
        if options.backchannel != Backchannel::Off {
            cmd.env(
                "OP_BACKCHANNEL_LOGOUT_URI",
                format!("{proxy_url}/oauth2/backchannel_logout"),
            )
            .env(
                "OP_BACKCHANNEL_SID",
                (options.backchannel == Backchannel::Sid).to_string(),
            );
        }
        which_node();
        let process = Process::spawn(&mut cmd);
        let ready = process.wait_for_log(|m| m == "ready");
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        Op {
            _process: process,
            issuer,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap(),
        }
    }

    /// The fixture's test API: `method path` (with a JSON body), answered 200 with JSON.
    async fn test_api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/test/{path}", self.issuer));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "/test/{path}");
        r.json().await.unwrap()
    }

    pub async fn counts(&self) -> Value {
        self.test_api(reqwest::Method::GET, "counts", None).await
    }

    pub async fn count(&self, name: &str) -> u64 {
        self.counts().await[name].as_u64().expect(name)
    }

    /// What the provider says about `account` from now on (over the fixture's defaults).
    pub async fn set_claims(&self, account: &str, claims: Value) {
        let mut body = claims;
        body["account"] = account.into();
        self.test_api(reqwest::Method::POST, "claims", Some(body))
            .await;
    }

    /// A new signing key at the provider: its `kid`.
    pub async fn rotate(&self) -> String {
        let v = self.test_api(reqwest::Method::POST, "rotate", None).await;
        v["kid"].as_str().expect("kid").to_owned()
    }

    /// An absolute URL for a `Location` the provider answered.
    pub fn absolute(&self, location: &str) -> String {
        url::Url::parse(&self.issuer)
            .unwrap()
            .join(location)
            .unwrap()
            .to_string()
    }

    /// Signs out at the provider (its end-session page, then the confirmation it asks for, as a
    /// browser with the provider's session cookie does).
    pub async fn end_session(&self, browser: &Browser) {
        let page = browser
            .get(&format!("{}/session/end", self.issuer), &[])
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let marker = "name=\"xsrf\" value=\"";
        let at = page.body.find(marker).expect("the confirmation form") + marker.len();
        let xsrf = &page.body[at..at + page.body[at..].find('"').unwrap()];
        let confirm = self
            .http
            .post(format!("{}/session/end/confirm", self.issuer))
            .form(&[("xsrf", xsrf), ("logout", "yes")]);
        let r = browser.send(confirm, &[]).await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(
            r.location().contains("/session/end/success"),
            "{}",
            r.location()
        );
    }
}

fn which_node() {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("node").is_file()));
    assert!(
        found,
        "node is not on PATH: it runs the independent provider"
    );
}
