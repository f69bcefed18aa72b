//! The authorization request: code flow with PKCE S256, a fresh `state` and `nonce`.

use latchkey_oidc::crypto::random_token;
use latchkey_oidc::pkce::s256_challenge;

use super::Metadata;
use crate::settings::ProviderSettings;

/// Where to send the browser, and what the callback will need to check its answer.
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl std::fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizationRequest(<redacted>)")
    }
}

pub(super) fn new_request(
    metadata: &Metadata,
    settings: &ProviderSettings,
    redirect_url: &str,
) -> AuthorizationRequest {
    let state = random_token();
    let nonce = random_token();
    let verifier = random_token();
    // Discovery checked that the endpoint parses.
    let mut url = url::Url::parse(&metadata.authorization_endpoint)
        .unwrap_or_else(|_| url::Url::parse("http://invalid.invalid/").expect("static URL"));
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", redirect_url)
        .append_pair("scope", &settings.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &s256_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    AuthorizationRequest {
        url: url.into(),
        state,
        nonce,
        verifier,
    }
}
