//! Forward-auth (`/oauth2/auth`) and `/oauth2/userinfo`, answering as oauth2-proxy does.
//!
//! `/oauth2/auth` (any method): 202 (or 200 when configured) with `GAP-Auth` and, with
//! `--set-xauthrequest`, `X-Auth-Request-*`; 401 `Unauthorized` without a session; 401 and a
//! cleared cookie when the session fails the proxy's rules; 403 when the request's own
//! `allowed_groups`/`allowed_emails`/`allowed_email_domains` are not met; `Set-Cookie`
//! after a refresh. No no-cache headers: nginx may cache the answer briefly.
//!
//! Without a session, a `--trusted-ip` passes (202, no identity headers), and so does a
//! skip-auth route named by a trusted proxy's `X-Forwarded-Uri` (`--reverse-proxy`).
//!
//! The rules of one upstream (`[[proxy.upstream]]`) are not checked here: the web server
//! asking knows which app a request is for, the proxy does not. Per-location rules in
//! forward-auth are the query's (`/oauth2/auth?allowed_groups=admins`), as in oauth2-proxy.

use std::sync::Arc;

use axum::extract::State;
use std::net::IpAddr;

use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth_request_identity;
use crate::Proxy;
use crate::answer;
use crate::metrics::{Outcome, mark};
use crate::rules::Rules;
use crate::session::Lookup;
use crate::trust::{Peer, peer_ip};

pub async fn any_auth(
    State(proxy): State<Arc<Proxy>>,
    peer: Peer,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let peer = peer_ip(&peer);
    let r = decide(proxy, peer, method, headers, uri).await;
    // What the status says, unless the answer says more precisely.
    let outcome = match r.status() {
        s if s.is_success() => Outcome::Authenticated,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        _ => Outcome::Unauthenticated,
    };
    mark(r, outcome)
}

async fn decide(
    proxy: Arc<Proxy>,
    peer: Option<std::net::IpAddr>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    // A bearer ID token (with `skip_jwt_bearer_tokens`) stands for a session.
    if let Some(identity) = proxy.bearers.identity(&proxy.rp, &headers).await {
        if !proxy.rules.authorize(&identity) {
            let r = answer::plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            return mark(r, Outcome::Forbidden);
        }
        if !Rules::query_allows(uri.query(), &identity) {
            return answer::plain(StatusCode::FORBIDDEN, "Forbidden\n");
        }
        let mut r = granted(&proxy).into_response();
        auth_request_identity(&proxy, &identity, r.headers_mut());
        return r;
    }
    let lookup = match proxy.sessions.lookup(&proxy.rp, &headers).await {
        Ok(l) => l,
        Err(e) => return answer::store_unavailable(&proxy, &headers, &e),
    };
    let unauthorized = || {
        if answer::wants_json(&proxy, &headers) {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                axum::Json(Value::Object(Map::new())),
            )
                .into_response();
            r.headers_mut().insert(
                header::X_CONTENT_TYPE_OPTIONS,
                "nosniff".parse().expect("static"),
            );
            r
        } else {
            answer::plain(StatusCode::UNAUTHORIZED, "Unauthorized\n")
        }
    };
    let current = match lookup {
        Lookup::Found(c) => c,
        Lookup::None { .. } if passes_unsigned(&proxy, &headers, peer, &method) => {
            return mark(granted(&proxy).into_response(), Outcome::Skipped);
        }
        Lookup::None { .. } => return unauthorized(),
        Lookup::Ended => {
            let mut r = unauthorized();
            r.headers_mut()
                .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
            return r;
        }
    };
    if !proxy.rules.authorize(current.identity()) {
        if let Err(e) = proxy.sessions.delete(&current.session.id_hash).await {
            return answer::store_unavailable(&proxy, &headers, &e);
        }
        let mut r = unauthorized();
        r.headers_mut()
            .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
        return mark(r, Outcome::Forbidden);
    }
    if !Rules::query_allows(uri.query(), current.identity()) {
        return answer::plain(StatusCode::FORBIDDEN, "Forbidden\n");
    }
    let mut r = granted(&proxy).into_response();
    auth_request_identity(&proxy, current.identity(), r.headers_mut());
    if proxy.settings.headers.set_authorization_header
        && let Some(token) = proxy.sessions.id_token(&current.session)
    {
        crate::rules::set_header(r.headers_mut(), "authorization", &format!("Bearer {token}"));
    }
    if proxy.settings.headers.set_xauthrequest
        && proxy.settings.headers.pass_access_token
        && let Some(token) = proxy.sessions.access_token(&current.session)
    {
        crate::rules::set_header(r.headers_mut(), "x-auth-request-access-token", &token);
    }
    if let Some(cookie) = current.set_cookie {
        r.headers_mut().append(header::SET_COOKIE, cookie);
    }
    r
}

/// Whether a request without a session passes: from a `--trusted-ip`, or for a skip-auth route
/// named by the `X-Forwarded-Uri` (and `X-Forwarded-Method`) of a trusted proxy in front. From
/// anyone else those headers mean nothing (GHSA-7x63-xv5r-3p2x): this request's own path is
/// `/oauth2/auth`.
fn passes_unsigned(
    proxy: &Proxy,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    method: &Method,
) -> bool {
    if proxy.trust.is_trusted_ip(headers, peer) {
        return true;
    }
    let Some(forwarded_uri) = proxy.trust.forwarded(headers, peer, "x-forwarded-uri") else {
        return false;
    };
    let path = forwarded_uri.split('?').next().unwrap_or_default();
    let method = match proxy.trust.forwarded(headers, peer, "x-forwarded-method") {
        Some(m) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return false,
        },
        None => method.clone(),
    };
    proxy.rules.routes.skips_auth(&method, path)
}

/// The status of a granted `/oauth2/auth`: 202, or 200 for Envoy.
fn granted(proxy: &Proxy) -> StatusCode {
    if proxy.settings.auth_answers_200 {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    }
}

pub async fn get_userinfo(State(proxy): State<Arc<Proxy>>, headers: HeaderMap) -> Response {
    let lookup = match proxy.sessions.lookup(&proxy.rp, &headers).await {
        Ok(l) => l,
        Err(e) => return answer::store_unavailable(&proxy, &headers, &e),
    };
    let Lookup::Found(current) = lookup else {
        return answer::error(
            &proxy,
            &headers,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Not signed in",
            "You are not signed in.",
        );
    };
    let id = current.identity();
    let mut body = Map::new();
    body.insert("user".into(), Value::from(id.user.as_str()));
    body.insert(
        "email".into(),
        Value::from(id.email.as_deref().unwrap_or("")),
    );
    if !id.groups.is_empty() {
        body.insert("groups".into(), Value::from(id.groups.clone()));
    }
    if let Some(name) = &id.preferred_username {
        body.insert("preferredUsername".into(), Value::from(name.as_str()));
    }
    let mut r = axum::Json(Value::Object(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    if let Some(cookie) = current.set_cookie {
        r.headers_mut().append(header::SET_COOKIE, cookie);
    }
    r
}
