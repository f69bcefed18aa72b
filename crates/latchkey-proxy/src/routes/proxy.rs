//! Everything that is not the proxy's own: identity headers stripped, the session and the
//! rules decide, then the upstream answers (or the sign-in page, a 401, a 403).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::sign_in::sign_in_page;
use super::upstream_identity;
use crate::Proxy;
use crate::answer;
use crate::metrics::{Outcome, mark};
use crate::rules::{normal_path, set_header, strip_identity_headers};
use crate::session::Lookup;
use crate::upstream::UpstreamError;

pub async fn any_proxied(State(proxy): State<Arc<Proxy>>, mut req: Request) -> Response {
    let h = &proxy.settings.headers;
    let bearer = proxy.bearers.identity(&proxy.rp, req.headers()).await;
    let authorization = req.headers().get(header::AUTHORIZATION).cloned();
    strip_identity_headers(req.headers_mut(), h.pass_authorization_header);
    if let Some(identity) = bearer {
        if !proxy.rules.authorize(&identity) {
            let r = answer::error(
                &proxy,
                req.headers(),
                StatusCode::FORBIDDEN,
                "access_denied",
                "Permission denied",
                "This token's holder may not use this site.",
            );
            return mark(r, Outcome::Forbidden);
        }
        upstream_identity(&proxy, &identity, req.headers_mut());
        if let Some(v) = authorization {
            // The bearer token goes on to the app as it came.
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
        return mark(forward(&proxy, req, None).await, Outcome::Authenticated);
    }
    let skip = proxy
        .rules
        .routes
        .skips_auth(req.method(), req.uri().path());
    let lookup = match proxy.sessions.lookup(&proxy.rp, req.headers()).await {
        Ok(l) => l,
        Err(e) => return answer::store_unavailable(&proxy, req.headers(), &e),
    };
    let mut set_cookie: Option<HeaderValue> = None;
    let mut outcome = Outcome::Skipped;
    match lookup {
        Lookup::Found(current) if proxy.rules.authorize(current.identity()) => {
            outcome = Outcome::Authenticated;
            set_cookie = current.set_cookie.clone();
            let headers = req.headers_mut();
            upstream_identity(&proxy, current.identity(), headers);
            if h.pass_access_token
                && let Some(token) = proxy.sessions.access_token(&current.session)
            {
                set_header(headers, "x-forwarded-access-token", &token);
            }
            if h.pass_authorization_header
                && let Some(token) = proxy.sessions.id_token(&current.session)
            {
                set_header(headers, "authorization", &format!("Bearer {token}"));
            }
        }
        _ if skip => {}
        Lookup::Found(current) => {
            if let Err(e) = proxy.sessions.delete(&current.session.id_hash).await {
                return answer::store_unavailable(&proxy, req.headers(), &e);
            }
            let mut r = answer::error(
                &proxy,
                req.headers(),
                StatusCode::FORBIDDEN,
                "access_denied",
                "Permission denied",
                "You are signed in, but this site is not open to you.",
            );
            r.headers_mut()
                .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
            return mark(r, Outcome::Forbidden);
        }
        Lookup::None { .. } | Lookup::Ended => {
            let headers = req.headers();
            if proxy.rules.routes.is_api(req.uri().path()) || answer::wants_json(&proxy, headers) {
                let mut r = answer::error(
                    &proxy,
                    headers,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Not signed in",
                    "You need to sign in to use this.",
                );
                if matches!(lookup, Lookup::Ended) {
                    r.headers_mut()
                        .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
                }
                return mark(r, Outcome::Unauthenticated);
            }
            // Back here after sign-in; a path that could be read as another origin is not
            // offered (the policy refuses it, and `/` is used).
            let rd = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|_| normal_path(req.uri().path()).is_some())
                .and_then(|p| proxy.rules.redirects.check(p))
                .unwrap_or_else(|| "/".into());
            let r = sign_in_page(&proxy, headers, StatusCode::FORBIDDEN, &rd).await;
            return mark(r, Outcome::Unauthenticated);
        }
    }
    mark(forward(&proxy, req, set_cookie).await, outcome)
}

/// Sends `req` on to its upstream without the proxy's own cookies; `set_cookie` (a refreshed
/// session) is added to the answer.
async fn forward(proxy: &Proxy, mut req: Request, set_cookie: Option<HeaderValue>) -> Response {
    match proxy.sessions.cookies.without_ours(req.headers()) {
        Some(v) => {
            req.headers_mut().insert(header::COOKIE, v);
        }
        None => {
            req.headers_mut().remove(header::COOKIE);
        }
    }
    // The answer to a failure follows what the request accepts.
    let mut accept = axum::http::HeaderMap::new();
    if let Some(v) = req.headers().get(header::ACCEPT) {
        accept.insert(header::ACCEPT, v.clone());
    }
    match proxy.upstreams.forward(req).await {
        Ok(mut resp) => {
            if let Some(c) = set_cookie {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(e) => upstream_failed(proxy, &accept, e),
    }
}

fn upstream_failed(proxy: &Proxy, headers: &axum::http::HeaderMap, e: UpstreamError) -> Response {
    let (title, message) = match e {
        UpstreamError::NoRoute => ("Not found", "Nothing is served at this address."),
        UpstreamError::Unreachable => (
            "The application is not answering",
            "The application behind this site could not be reached. Please try again in a moment.",
        ),
        UpstreamError::Timeout => (
            "The application is not answering",
            "The application behind this site did not answer in time. Please try again in a moment.",
        ),
    };
    let r = answer::error(proxy, headers, e.status(), "upstream_error", title, message);
    mark(r, Outcome::UpstreamError)
}
