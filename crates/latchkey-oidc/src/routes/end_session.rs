//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). The browser is sent back
//! only to a `post_logout_redirect_uri` registered by the client the hint was issued to.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_store::ClientId;

use super::authorize::{hint_subject, see_other};
use crate::error::ErrorPage;
use crate::params::Params;
use crate::provider::Provider;

pub async fn get_end_session(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match crate::params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => end_session(&p, &headers, &params).await,
        Err(e) => ErrorPage::bad_request("Invalid request", e.to_string()).into_response(),
    }
}

pub async fn post_end_session(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = match body {
        Ok(b) if super::is_form(&headers) => crate::params::parse(&b),
        Ok(b) if b.is_empty() => Ok(Params::default()),
        _ => {
            return ErrorPage::bad_request("Invalid request", "The request must be form-encoded.")
                .into_response();
        }
    };
    match params {
        Ok(params) => end_session(&p, &headers, &params).await,
        Err(e) => ErrorPage::bad_request("Invalid request", e.to_string()).into_response(),
    }
}

async fn end_session(p: &Provider, headers: &HeaderMap, params: &Params) -> Response {
    let hint = match params.get("id_token_hint") {
        Some(h) => match hint_subject(p, h) {
            Some(v) => Some(v),
            None => {
                return ErrorPage::bad_request(
                    "Sign-out failed",
                    "The id_token_hint is not a valid ID token from this server.",
                )
                .into_response();
            }
        },
        None => None,
    };
    // The client whose registered URIs apply: client_id, which must agree with the hint.
    let client_id = match (params.get("client_id"), &hint) {
        (Some(c), Some((_, aud))) if !aud.iter().any(|a| a == c) => {
            return ErrorPage::bad_request(
                "Sign-out failed",
                "client_id does not match the id_token_hint.",
            )
            .into_response();
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, Some((_, aud))) => aud.first().cloned(),
        (None, None) => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = match &client_id {
                Some(id) => match p.find_client(&ClientId::from(id.as_str())).await {
                    Ok(Some(c)) => c.post_logout_redirect_uris.iter().any(|r| r == uri),
                    Ok(None) => false,
                    Err(e) => return ErrorPage::internal(e).into_response(),
                },
                None => false,
            };
            if !registered {
                return ErrorPage::bad_request(
                    "Sign-out failed",
                    "The post_logout_redirect_uri is not registered for this application.",
                )
                .into_response();
            }
            Some(uri.to_owned())
        }
    };
    // Without a valid ID token from the client, a cross-site link must not sign anyone out:
    // the person confirms on our page, whose form comes back same-origin.
    if hint.is_none() {
        if params.get("confirm") != Some("yes") {
            return confirmation_page(params);
        }
        if !same_origin(p, headers) {
            return ErrorPage {
                status: StatusCode::FORBIDDEN,
                title: "Sign-out failed",
                message: "The sign-out confirmation did not come from this site.".into(),
            }
            .into_response();
        }
    }
    let extra = p.authenticator.end_session(headers).await;
    let mut resp = match redirect {
        Some(mut uri) => {
            if let Some(state) = params.get("state") {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                ser.append_pair("state", state);
                uri.push(if uri.contains('?') { '&' } else { '?' });
                uri.push_str(&ser.finish());
            }
            see_other(&uri)
        }
        None => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title></head>\
             <body><main><h1>Signed out</h1><p>You have been signed out. You can close this window.</p></main></body></html>",
        )
            .into_response(),
    };
    for (name, value) in extra.iter() {
        resp.headers_mut().append(name.clone(), value.clone());
    }
    resp
}

/// A form the browser posts back to confirm; it carries the request's parameters.
fn confirmation_page(params: &Params) -> Response {
    let mut inputs = String::new();
    for name in [
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
    ] {
        if let Some(v) = params.get(name) {
            inputs.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                crate::error::html_escape(v)
            ));
        }
    }
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out?</title></head>\
         <body><main><h1>Sign out?</h1><form method=\"post\" action=\"end-session\">{inputs}\
         <input type=\"hidden\" name=\"confirm\" value=\"yes\"><button type=\"submit\">Sign out</button></form></main></body></html>"
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The request was sent by a page of this issuer's origin (Fetch Metadata, else Origin).
fn same_origin(p: &Provider, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    let ours = url::Url::parse(p.issuer())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o == ours)
}
