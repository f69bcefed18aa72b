//! Token endpoint request forms, as `(name, value)` pairs in the order they are sent.

use crate::Pkce;

/// RFC 8693's grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693's token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Redeems `code` (with the PKCE verifier).
pub fn code_grant(code: &str, redirect_uri: &str, pkce: &Pkce) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.into()),
        ("redirect_uri", redirect_uri.into()),
        ("code_verifier", pkce.verifier.clone()),
    ]
}

/// Exchanges the access token `subject` (RFC 8693), with `extra` appended as given (a name
/// given again is sent twice).
pub fn token_exchange(
    subject: &str,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE.to_owned()),
        ("subject_token", subject.to_owned()),
        ("subject_token_type", ACCESS_TOKEN_TYPE.to_owned()),
    ];
    form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    form
}
