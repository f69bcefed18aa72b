//! Everything that is not the proxy's own: identity headers stripped, the session and the
//! rules decide, then the upstream answers (or the sign-in page, a 401, a 403).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::sign_in::sign_in_page;
use super::upstream_identity;
use crate::Proxy;
use crate::answer;
use crate::metrics::{Outcome, mark};
use crate::rules::{normal_path, set_header, strip_identity_headers};
use crate::session::Lookup;
use crate::trust::{Peer, peer_ip};
use crate::upstream::{UpstreamError, upgrade_protocol};
use latchkey_store::ProxyIdentity;

pub async fn any_proxied(
    State(proxy): State<Arc<Proxy>>,
    peer: Peer,
    mut req: Request,
) -> Response {
    let peer = peer_ip(&peer);
    if cross_site_upgrade(&proxy, req.headers()) {
        tracing::info!("refused a cross-site protocol upgrade");
        let r = answer::forbidden(
            &proxy,
            req.headers(),
            "Another site may not open a connection to this one.",
        );
        return mark(r, Outcome::Forbidden);
    }
    let h = &proxy.settings.headers;
    let bearer = proxy.bearers.identity(&proxy.rp, req.headers()).await;
    let authorization = req.headers().get(header::AUTHORIZATION).cloned();
    strip_identity_headers(req.headers_mut(), h.pass_authorization_header);
    let upstream_rules = proxy.upstreams.rules_for(req.uri().path());
    let upstream_allows = |id: &ProxyIdentity| upstream_rules.iter().all(|r| r.allows(id));
    if let Some(identity) = bearer {
        if !proxy.rules.authorize(&identity) || !upstream_allows(&identity) {
            let r = answer::forbidden(
                &proxy,
                req.headers(),
                "This token's holder may not use this site.",
            );
            return mark(r, Outcome::Forbidden);
        }
        upstream_identity(&proxy, &identity, req.headers_mut());
        if let Some(v) = authorization {
            // The bearer token goes on to the app as it came.
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
        return mark(
            forward(&proxy, req, None, peer).await,
            Outcome::Authenticated,
        );
    }
    // A skip-auth route is matched on the request's own path, never on an X-Forwarded-Uri:
    // this request goes to the upstream at that path.
    let skip = proxy
        .rules
        .routes
        .skips_auth(req.method(), req.uri().path())
        || proxy.trust.is_trusted_ip(req.headers(), peer);
    let lookup = match proxy.sessions.lookup(&proxy.rp, req.headers()).await {
        Ok(l) => l,
        Err(e) => return answer::store_unavailable(&proxy, req.headers(), &e),
    };
    let mut set_cookie: Option<HeaderValue> = None;
    let mut outcome = Outcome::Skipped;
    match lookup {
        Lookup::Found(current)
            if proxy.rules.authorize(current.identity()) && upstream_allows(current.identity()) =>
        {
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
        // Good for the rest of the site, not for this upstream: the session stays.
        Lookup::Found(current) if proxy.rules.authorize(current.identity()) => {
            let mut r = answer::forbidden(
                &proxy,
                req.headers(),
                "You are signed in, but this part of the site is not open to you.",
            );
            if let Some(c) = current.set_cookie {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            return mark(r, Outcome::Forbidden);
        }
        Lookup::Found(current) => {
            if let Err(e) = proxy.sessions.delete(&current.session.id_hash).await {
                return answer::store_unavailable(&proxy, req.headers(), &e);
            }
            let mut r = answer::forbidden(
                &proxy,
                req.headers(),
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
    mark(forward(&proxy, req, set_cookie, peer).await, outcome)
}

/// A protocol upgrade (a WebSocket handshake) whose `Origin` is another site's: refused,
/// since the browser sends our cookies with it (cross-site WebSocket hijacking). Same site is
/// the host the request is for, the proxy's own, or a whitelisted domain; a request without
/// `Origin` is not a browser's.
fn cross_site_upgrade(proxy: &Proxy, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    if upgrade_protocol(headers).is_none() {
        return false;
    }
    let Some(origin) = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .filter(|o| matches!(o.scheme(), "http" | "https") && o.path() == "/")
    else {
        return true;
    };
    let authority = match (origin.host_str(), origin.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return true,
    };
    let same_host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.eq_ignore_ascii_case(&authority));
    !same_host && proxy.rules.redirects.check(origin.as_str()).is_none()
}

/// Sends `req` on to its upstream without the proxy's own cookies; `set_cookie` (a refreshed
/// session) is added to the answer.
async fn forward(
    proxy: &Proxy,
    mut req: Request,
    set_cookie: Option<HeaderValue>,
    peer: Option<std::net::IpAddr>,
) -> Response {
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
    match proxy
        .upstreams
        .forward(req, proxy.trust.believes(peer))
        .await
    {
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
