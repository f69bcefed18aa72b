//! The authorization request seen from the client: its URL, and the response's query.

use std::collections::HashMap;

use url::Url;

use crate::Pkce;

/// `{issuer}/authorize?…` for a code flow with PKCE (S256), plus `extra` parameters (`state`,
/// `nonce`, …).
pub fn authorize_url(
    issuer: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse(&format!("{issuer}/authorize")).expect("issuer URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    url.into()
}

/// The query parameters of `url` (for a repeated name, the last value).
pub fn query_map(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Sends an authorization request. When the answer is a 303 to `redirect_uri` (compared
/// without its query), the parameters it carries (`code` or `error`, `state`, `iss`);
/// otherwise the status and body of what came instead.
pub async fn authorization_response(
    req: reqwest::RequestBuilder,
    redirect_uri: &str,
) -> Result<HashMap<String, String>, (u16, String)> {
    let r = req.send().await.expect("authorization request");
    let status = r.status().as_u16();
    let target = Url::parse(redirect_uri).expect("redirect URI");
    let location = r
        .headers()
        .get("location")
        .and_then(|l| Url::parse(l.to_str().ok()?).ok());
    match location {
        Some(to) if status == 303 && without_query(&to) == target => Ok(query_map(&to)),
        _ => Err((status, r.text().await.expect("response body"))),
    }
}

fn without_query(url: &Url) -> Url {
    let mut bare = url.clone();
    bare.set_query(None);
    bare
}
