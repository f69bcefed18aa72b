//! The token endpoint (code exchange, refresh) and userinfo.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::http::json_answer;
use super::{Metadata, ProviderError};
use crate::settings::{ClientAuth, ProviderSettings};

/// What the token endpoint answered.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    /// `now + expires_in`, when the provider said.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

pub(super) async fn exchange_code(
    http: &reqwest::Client,
    metadata: &Metadata,
    settings: &ProviderSettings,
    redirect_url: &str,
    code: &str,
    verifier: &str,
    now: i64,
) -> Result<TokenSet, ProviderError> {
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_url),
        ("code_verifier", verifier),
    ];
    token_request(http, metadata, settings, form, now).await
}

pub(super) async fn refresh(
    http: &reqwest::Client,
    metadata: &Metadata,
    settings: &ProviderSettings,
    refresh_token: &str,
    now: i64,
) -> Result<TokenSet, ProviderError> {
    let form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token_request(http, metadata, settings, form, now).await
}

/// RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

async fn token_request(
    http: &reqwest::Client,
    metadata: &Metadata,
    settings: &ProviderSettings,
    mut form: Vec<(&str, &str)>,
    now: i64,
) -> Result<TokenSet, ProviderError> {
    let secret = settings.client_secret.as_deref().unwrap_or_default();
    let mut req = http.post(&metadata.token_endpoint);
    match settings.client_auth {
        ClientAuth::Basic => {
            req = req.header("authorization", basic(&settings.client_id, secret));
        }
        ClientAuth::Post => {
            form.push(("client_id", &settings.client_id));
            form.push(("client_secret", secret));
        }
        ClientAuth::None => form.push(("client_id", &settings.client_id)),
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let req = req
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body);
    let (status, answer) = json_answer(req.send().await, "token endpoint").await?;
    if !status.is_success() {
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if error.is_empty() {
            return Err(if status.is_server_error() {
                ProviderError::Unreachable(format!("token endpoint: HTTP {status}"))
            } else {
                ProviderError::Protocol(format!("token endpoint: HTTP {status} without an error"))
            });
        }
        return Err(ProviderError::Refused { error });
    }
    let text = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let access_token = text("access_token")
        .ok_or_else(|| ProviderError::Protocol("the token answer has no access_token".into()))?;
    if !answer
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(ProviderError::Protocol(
            "the token type is not Bearer".into(),
        ));
    }
    let expires_at = answer
        .get("expires_in")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .filter(|s| *s > 0)
        .map(|s| now.saturating_add(s));
    Ok(TokenSet {
        access_token,
        id_token: text("id_token"),
        refresh_token: text("refresh_token"),
        expires_at,
    })
}

pub(super) async fn userinfo(
    http: &reqwest::Client,
    endpoint: &str,
    access_token: &str,
) -> Result<Map<String, Value>, ProviderError> {
    let req = http
        .get(endpoint)
        .bearer_auth(access_token)
        .header("accept", "application/json");
    let (status, answer) = json_answer(req.send().await, "userinfo").await?;
    if !status.is_success() {
        return Err(ProviderError::Protocol(format!(
            "userinfo answered HTTP {status}"
        )));
    }
    match answer {
        Value::Object(m) => Ok(m),
        _ => Err(ProviderError::Protocol(
            "userinfo is not a JSON object".into(),
        )),
    }
}
