//! What an issuer says about itself: its discovery document (OpenID Connect Discovery 1.0,
//! RFC 8414) and the grant types it accepts. Pure functions of the settings.

use serde_json::{Value, json};

use crate::jose::Alg;
use crate::provider::ProviderSettings;

/// RFC 8693's grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8628's grant type.
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The discovery document, advertising the ID-token algorithms `algs` (those with a key in
/// the JWKS).
pub fn document(s: &ProviderSettings, algs: &[Alg]) -> Value {
    let mut doc = json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/authorize"),
        "token_endpoint": s.endpoint("/token"),
        "userinfo_endpoint": s.endpoint("/userinfo"),
        "jwks_uri": s.endpoint("/.well-known/jwks.json"),
        "introspection_endpoint": s.endpoint("/introspect"),
        "revocation_endpoint": s.endpoint("/revoke"),
        "end_session_endpoint": s.endpoint("/end-session"),
        "scopes_supported": s.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": supported_grant_types(s),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": s.claims_supported,
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    if s.dynamic_registration {
        doc["registration_endpoint"] = json!(s.endpoint("/register"));
    }
    if s.device_flow {
        doc["device_authorization_endpoint"] = json!(s.endpoint("/device_authorization"));
    }
    if s.backchannel_logout {
        doc["backchannel_logout_supported"] = json!(true);
        doc["backchannel_logout_session_supported"] = json!(true);
    }
    doc
}

/// The grant types this issuer accepts at /token (and advertises in discovery).
pub fn supported_grant_types(s: &ProviderSettings) -> Vec<&'static str> {
    let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
    if s.token_exchange {
        grants.push(TOKEN_EXCHANGE);
    }
    if s.device_flow {
        grants.push(DEVICE_CODE);
    }
    grants
}
