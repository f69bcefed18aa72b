//! WebFinger (RFC 7033) for OpenID Connect issuer discovery, which Tailscale's custom OIDC
//! asks at the domain of the person's e-mail address: `GET /.well-known/webfinger?resource=
//! acct:alice@example.com` names this issuer, byte for byte as discovery does, for enabled
//! directory users only.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_web::FormRules;
use serde_json::json;

use crate::state::Idp;

pub const ISSUER_REL: &str = "http://openid.net/specs/connect/1.0/issuer";

pub(crate) async fn get_webfinger(
    State(idp): State<Arc<Idp>>,
    peer: crate::pages::Peer,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // An answer says whether an address is a person here: not for asking in bulk.
    let ip = idp.client_ip(&headers, crate::pages::peer_addr(&peer));
    if let Err(wait) = idp.limits.check(crate::limits::Action::Link, ip) {
        let mut r = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "too many requests; try again later"}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs() + 1));
        return r;
    }
    let query = query.unwrap_or_default();
    let Ok(form) = FormRules::PROTOCOL
        .repeatable(&["rel"])
        .parse(query.as_bytes())
    else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "the query could not be read"}),
        );
    };
    let Some(email) = form.get("resource").and_then(account) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "resource must be an acct: URI such as acct:alice@example.com"}),
        );
    };
    let user = match idp.store.find_user_by_email(email).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "webfinger: reading the directory failed");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "try again later"}),
            );
        }
    };
    if user.is_none_or(|u| u.disabled) {
        return answer(StatusCode::NOT_FOUND, json!({"error": "no such account"}));
    }
    let rels = form.get_all("rel");
    let links = if rels.is_empty() || rels.contains(&ISSUER_REL) {
        json!([{"rel": ISSUER_REL, "href": idp.issuer()}])
    } else {
        json!([])
    };
    let resource = form.get("resource").unwrap_or_default();
    answer(StatusCode::OK, json!({"subject": resource, "links": links}))
}

/// The e-mail address of an `acct:` URI (RFC 7565), percent-decoded once.
fn account(resource: &str) -> Option<&str> {
    let addr = resource.strip_prefix("acct:")?;
    let (local, domain) = addr.rsplit_once('@')?;
    let well_formed = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !local.contains('@')
        && addr.len() <= 254
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '?' || c == '#');
    well_formed.then_some(addr)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jrd+json"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_acct_uris_with_an_address_are_accounts() {
        assert_eq!(account("acct:alice@example.com"), Some("alice@example.com"));
        assert_eq!(account("mailto:alice@example.com"), None);
        assert_eq!(account("acct:alice"), None);
        assert_eq!(account("acct:@example.com"), None);
        assert_eq!(account("acct:alice@"), None);
        assert_eq!(account("acct:a@b@c"), None);
        assert_eq!(account("acct:alice smith@example.com"), None);
    }
}
