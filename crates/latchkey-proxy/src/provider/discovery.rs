//! OpenID Connect Discovery 1.0: the provider's metadata, from its issuer URL.

use serde::Deserialize;

use super::ProviderError;
use super::http::json_answer;
use crate::settings::ProviderSettings;

/// What the proxy uses of the provider's metadata.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

pub(super) async fn discover(
    http: &reqwest::Client,
    settings: &ProviderSettings,
) -> Result<Metadata, ProviderError> {
    let issuer = settings.issuer_url.trim_end_matches('/');
    let url = format!("{issuer}/.well-known/openid-configuration");
    let (status, body) = json_answer(http.get(&url).send().await, "discovery").await?;
    if !status.is_success() {
        return Err(ProviderError::Configuration(format!(
            "discovery at {url} answered HTTP {status}"
        )));
    }
    let metadata: Metadata = serde_json::from_value(body).map_err(|e| {
        ProviderError::Configuration(format!("the discovery document is incomplete: {e}"))
    })?;
    // OpenID Connect Discovery §4.3: the document's issuer is exactly the one asked about
    // (a trailing slash aside, which configuration files add or drop).
    if metadata.issuer.trim_end_matches('/') != issuer {
        return Err(ProviderError::Configuration(format!(
            "the discovery document names the issuer {:?}, not {issuer:?}",
            metadata.issuer
        )));
    }
    for (name, endpoint) in [
        (
            "authorization_endpoint",
            Some(&metadata.authorization_endpoint),
        ),
        ("token_endpoint", Some(&metadata.token_endpoint)),
        ("jwks_uri", Some(&metadata.jwks_uri)),
        ("userinfo_endpoint", metadata.userinfo_endpoint.as_ref()),
        (
            "end_session_endpoint",
            metadata.end_session_endpoint.as_ref(),
        ),
    ] {
        if let Some(e) = endpoint {
            let ok = url::Url::parse(e)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !ok {
                return Err(ProviderError::Configuration(format!(
                    "{name} is not an http(s) URL"
                )));
            }
        }
    }
    if let Some(methods) = &metadata.code_challenge_methods_supported
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(ProviderError::Configuration(
            "the provider does not support PKCE with S256".into(),
        ));
    }
    Ok(metadata)
}

/// What RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) sends to the provider.
pub struct EndSession<'a> {
    pub id_token: &'a str,
    pub client_id: &'a str,
    /// Where the provider sends the browser afterwards; it must be registered there.
    pub post_logout_redirect_uri: &'a str,
}

impl super::RelyingParty {
    /// The provider's end-session URL for `end`, or `None` when the provider has no
    /// `end_session_endpoint` (or cannot be discovered: sign-out must not wait on it).
    pub async fn end_session_url(&self, end: &EndSession<'_>) -> Option<String> {
        let metadata = match self.metadata().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "sign-out at the provider skipped: it cannot be discovered");
                return None;
            }
        };
        let mut url = url::Url::parse(metadata.end_session_endpoint.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", end.id_token)
            .append_pair("client_id", end.client_id)
            .append_pair("post_logout_redirect_uri", end.post_logout_redirect_uri);
        Some(url.into())
    }

    /// oauth2-proxy's `--backend-logout-url`: a GET to `template` with `{id_token}` replaced
    /// (URL-encoded). Its failure is logged, never shown: the proxy's session has ended anyway.
    pub async fn backend_logout(&self, template: &str, id_token: &str) {
        let encoded: String = form_urlencoded::byte_serialize(id_token.as_bytes()).collect();
        let url = template.replace("{id_token}", &encoded);
        match self.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => {}
            // The URL carries the ID token: name the status only.
            Ok(r) => {
                tracing::warn!(status = %r.status(), "the backend logout URL refused the sign-out")
            }
            Err(e) => tracing::warn!(
                error = %e.without_url(),
                "the backend logout URL could not be reached"
            ),
        }
    }
}
