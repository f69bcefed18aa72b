//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). The browser is sent back
//! only to a `post_logout_redirect_uri` registered by the client the hint was issued to.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_store::ClientId;
use latchkey_web::{FormPage, Site};

use super::authorize::{hint_subject, see_other};
use crate::error::ErrorPage;
use crate::params::Params;
use crate::provider::Provider;

pub async fn get_end_session(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let answer = match crate::params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => end_session(&p, &headers, &params).await,
        Err(e) => Err(ErrorPage::bad_request("Invalid request", e.to_string())),
    };
    answer.unwrap_or_else(|e| e.render(p.site()))
}

pub async fn post_end_session(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = match body {
        Ok(b) if super::is_form(&headers) => crate::params::parse(&b).map_err(|e| e.to_string()),
        Ok(b) if b.is_empty() => Ok(Params::default()),
        _ => Err("The request must be form-encoded.".to_owned()),
    };
    let answer = match params {
        Ok(params) => end_session(&p, &headers, &params).await,
        Err(message) => Err(ErrorPage::bad_request("Invalid request", message)),
    };
    answer.unwrap_or_else(|e| e.render(p.site()))
}

async fn end_session(
    p: &Provider,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, ErrorPage> {
    let failed = |message: &str| ErrorPage::bad_request("Sign-out failed", message);
    let hint = match params.get("id_token_hint") {
        Some(h) => Some(hint_subject(p, h).ok_or_else(|| {
            failed("The id_token_hint is not a valid ID token from this server.")
        })?),
        None => None,
    };
    // The client whose registered URIs apply: client_id, which must agree with the hint.
    let client_id = match (params.get("client_id"), &hint) {
        (Some(c), Some((_, aud))) if !aud.iter().any(|a| a == c) => {
            return Err(failed("client_id does not match the id_token_hint."));
        }
        (Some(c), _) => Some(c.to_owned()),
        (None, Some((_, aud))) => aud.first().cloned(),
        (None, None) => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = match &client_id {
                Some(id) => p
                    .find_client(&ClientId::from(id.as_str()))
                    .await
                    .map_err(ErrorPage::internal)?
                    .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri)),
                None => false,
            };
            if !registered {
                return Err(failed(
                    "The post_logout_redirect_uri is not registered for this application.",
                ));
            }
            Some(uri.to_owned())
        }
    };
    // Without a valid ID token from the client, a cross-site link must not sign anyone out:
    // the person confirms on our page, whose form comes back same-origin.
    if hint.is_none() {
        if params.get("confirm") != Some("yes") {
            return Ok(confirmation_page(p.site(), params));
        }
        if let Err(e) = latchkey_web::csrf::require_same_origin(headers, &p.site().origin) {
            tracing::info!(reason = %e, "sign-out confirmation refused");
            return Err(ErrorPage::new(
                StatusCode::FORBIDDEN,
                "Sign-out failed",
                "The sign-out confirmation did not come from this site. Nothing was changed.",
            ));
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
            see_other(p.site(), &uri)
        }
        None => latchkey_web::message_page(
            p.site(),
            StatusCode::OK,
            "Signed out",
            "You have been signed out. You can close this window.",
            None,
        ),
    };
    for (name, value) in extra.iter() {
        resp.headers_mut().append(name.clone(), value.clone());
    }
    Ok(resp)
}

/// A form the browser posts back to confirm; it carries the request's parameters.
fn confirmation_page(site: &Site, params: &Params) -> Response {
    let mut fields: Vec<(&str, &str)> = [
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
    ]
    .into_iter()
    .filter_map(|name| params.get(name).map(|v| (name, v)))
    .collect();
    fields.push(("confirm", "yes"));
    latchkey_web::form_page(
        site,
        StatusCode::OK,
        &FormPage {
            title: "Sign out?",
            message: Some(
                "An application asked to sign you out of Latchkey in this browser. \
                 If you did not mean to sign out, close this page.",
            ),
            action: &site.path("/end-session"),
            fields: &fields,
            button: "Sign out",
        },
    )
}
