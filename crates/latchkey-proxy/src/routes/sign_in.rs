//! Signing in: the sign-in page, `start` (to the provider) and `callback` (back from it).

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use latchkey_oidc::crypto::constant_time_eq;
use latchkey_store::unix_now;

use super::{query, redirect_target_from};
use crate::Proxy;
use crate::answer;
use crate::provider::{ProviderError, identity_from_claims};
use crate::session::CsrfState;
use crate::trust::{Peer, peer_ip};

/// A redirect target kept in the CSRF cookie is at most this long (the cookie must stay
/// under browsers' 4 kB).
const MAX_RD: usize = 2048;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    message: &'a str,
    action: &'a str,
    rd: &'a str,
    provider: &'a str,
}

/// The sign-in page; it also ends whatever session the browser had (so no session set
/// before sign-in can survive it, GHSA-f24x-5g9q-753f).
pub(super) async fn sign_in_page(
    proxy: &Proxy,
    headers: &HeaderMap,
    status: StatusCode,
    rd: &str,
) -> Response {
    if proxy.settings.skip_provider_button {
        return begin(proxy, headers, rd).await;
    }
    if let Err(e) = proxy.sessions.end(headers).await {
        return answer::store_unavailable(proxy, headers, &e);
    }
    let action = proxy.site.path("/start");
    let mut resp = latchkey_web::render_card(
        &proxy.site,
        status,
        "Sign in",
        &SignInPage {
            message: "You need to sign in to continue.",
            action: &action,
            rd,
            provider: &proxy.settings.provider.display_name,
        },
    );
    if has_session_cookie(proxy, headers) {
        resp.headers_mut()
            .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
    }
    answer::secure_page(resp)
}

fn has_session_cookie(proxy: &Proxy, headers: &HeaderMap) -> bool {
    crate::session::cookie::read(headers, &proxy.sessions.cookies.name).is_some()
}

pub async fn get_sign_in(
    State(proxy): State<Arc<Proxy>>,
    peer: Peer,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let form = match query(&proxy, &headers, &uri) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let rd = redirect_target_from(&proxy, &form, &headers, peer_ip(&peer));
    sign_in_page(&proxy, &headers, StatusCode::OK, &rd).await
}

pub async fn get_start(
    State(proxy): State<Arc<Proxy>>,
    peer: Peer,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let form = match query(&proxy, &headers, &uri) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let rd = redirect_target_from(&proxy, &form, &headers, peer_ip(&peer));
    begin(&proxy, &headers, &rd).await
}

/// To the provider, with a sealed CSRF cookie binding this sign-in to this browser.
pub(super) async fn begin(proxy: &Proxy, headers: &HeaderMap, rd: &str) -> Response {
    let request = match proxy.rp.authorization_request().await {
        Ok(r) => r,
        Err(_) => return answer::provider_unavailable(proxy, headers),
    };
    let rd = if rd.len() > MAX_RD { "/" } else { rd };
    let state = CsrfState {
        state: request.state,
        nonce: request.nonce,
        verifier: request.verifier,
        rd: rd.to_owned(),
        expires_at: unix_now().saturating_add(proxy.sessions.cookies.csrf_expire_secs()),
    };
    let csrf = proxy.sessions.cookies.seal_csrf(&proxy.master, &state);
    let mut resp = found(&request.url);
    resp.headers_mut().append(
        header::SET_COOKIE,
        proxy.sessions.cookies.csrf_cookie(&csrf),
    );
    resp
}

pub(super) fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(loc) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, loc),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        // Locations are checked URLs or paths; this does not happen.
        Err(_) => (StatusCode::FOUND, [(header::LOCATION, "/")]).into_response(),
    }
}

/// An error code from the provider, shown only when it is a plain OAuth error code.
fn shown_error(code: &str) -> &str {
    if !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        code
    } else {
        "unknown_error"
    }
}

pub async fn get_callback(
    State(proxy): State<Arc<Proxy>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let mut resp = callback(&proxy, &headers, &uri).await;
    // Whatever happened, this sign-in attempt is over.
    resp.headers_mut()
        .append(header::SET_COOKIE, proxy.sessions.cookies.clear_csrf());
    resp
}

async fn callback(proxy: &Proxy, headers: &HeaderMap, uri: &Uri) -> Response {
    let refuse = |status, code: &str, title: &str, message: &str| {
        answer::error(proxy, headers, status, code, title, message)
    };
    let form = match query(proxy, headers, uri) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let now = unix_now();
    let Some(csrf) = proxy
        .sessions
        .cookies
        .open_csrf(&proxy.master, headers, now)
    else {
        return refuse(
            StatusCode::FORBIDDEN,
            "invalid_state",
            "Sign-in expired",
            "This sign-in was not started in this browser, or took too long. Please start again.",
        );
    };
    let state_ok = form
        .get("state")
        .is_some_and(|s| constant_time_eq(s.as_bytes(), csrf.state.as_bytes()));
    if !state_ok {
        return refuse(
            StatusCode::FORBIDDEN,
            "invalid_state",
            "Sign-in not accepted",
            "The answer from the identity provider does not belong to the sign-in started in \
             this browser. Please start again.",
        );
    }
    // RFC 9207: an answer naming another issuer is not our provider's (a mix-up attack).
    if form
        .get("iss")
        .is_some_and(|iss| iss != proxy.settings.provider.issuer_url)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "invalid_issuer",
            "Sign-in not accepted",
            "The answer names another identity provider than this site's. Please start again.",
        );
    }
    if let Some(error) = form.get("error") {
        return refuse(
            StatusCode::FORBIDDEN,
            "access_denied",
            "Not signed in",
            &format!(
                "The identity provider did not sign you in ({}).",
                shown_error(error)
            ),
        );
    }
    let Some(code) = form.get("code") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad request",
            "The answer from the identity provider has no code.",
        );
    };
    let (tokens, claims) = match proxy
        .rp
        .redeem(code, &csrf.verifier, &csrf.nonce, now)
        .await
    {
        Ok(ok) => ok,
        Err(e @ ProviderError::Unreachable(_)) => {
            tracing::warn!(error = %e, "sign-in: the provider could not be reached");
            return answer::provider_unavailable(proxy, headers);
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in refused");
            return refuse(
                StatusCode::FORBIDDEN,
                "sign_in_failed",
                "Sign-in failed",
                "The identity provider's answer could not be accepted. Please start again.",
            );
        }
    };
    let Some(identity) = identity_from_claims(&claims, &proxy.settings.provider) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "sign_in_failed",
            "Sign-in failed",
            "The identity provider did not say who you are.",
        );
    };
    if !proxy.rules.authorize(&identity) {
        tracing::info!(subject = %identity.subject, "sign-in refused by the proxy's rules");
        return refuse(
            StatusCode::FORBIDDEN,
            "access_denied",
            "Permission denied",
            "You are signed in at the identity provider, but this site is not open to you.",
        );
    }
    // Token expiry: the access token's, else the ID token's.
    let expires_at = tokens
        .expires_at
        .or_else(|| claims.get("exp").and_then(|v| v.as_i64()));
    let previous = proxy.sessions.cookie_digest(headers);
    let cookie = match proxy
        .sessions
        .create(identity, &tokens, expires_at, previous.as_deref(), now)
        .await
    {
        Ok(c) => c,
        Err(e) => return answer::store_unavailable(proxy, headers, &e),
    };
    // Checked when the sign-in started; checked again (the policy may have changed).
    let rd = proxy
        .rules
        .redirects
        .check(&csrf.rd)
        .unwrap_or_else(|| "/".into());
    let mut resp = found(&rd);
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}
