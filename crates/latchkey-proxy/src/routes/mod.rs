//! The proxy's router: oauth2-proxy's endpoints under the proxy prefix, the health paths,
//! and everything else through the authorization decision to the upstream.

mod auth;
mod backchannel;
mod health;
mod proxy;
mod sign_in;
mod sign_out;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get};
use base64::Engine as _;
use latchkey_store::ProxyIdentity;
use latchkey_web::{Form, FormRules};

use crate::Proxy;
use crate::answer;
use crate::rules::set_header;

/// The proxy's routes, with the state they need; serve with `ConnectInfo<SocketAddr>`.
pub fn router(proxy: Arc<Proxy>) -> Router {
    let s = &proxy.settings;
    let p = s.proxy_prefix.as_str();
    Router::new()
        .route(&format!("{p}/start"), get(sign_in::get_start))
        .route(&format!("{p}/callback"), get(sign_in::get_callback))
        .route(&format!("{p}/sign_in"), get(sign_in::get_sign_in))
        .route(
            &format!("{p}/sign_out"),
            get(sign_out::sign_out).post(sign_out::sign_out),
        )
        .route(&format!("{p}/userinfo"), get(auth::get_userinfo))
        .route(
            &format!("{p}/backchannel_logout"),
            axum::routing::post(backchannel::post_backchannel_logout),
        )
        .route(&format!("{p}/auth"), any(auth::any_auth))
        .route(
            &format!("{p}{}", latchkey_web::assets::STYLESHEET_PATH),
            get(latchkey_web::assets::get_stylesheet),
        )
        .route(&format!("{p}/{{*rest}}"), any(not_found))
        .route(&s.ping_path, get(health::get_ping))
        .route(&s.ready_path, get(health::get_ready))
        .route("/robots.txt", get(health::get_robots))
        .fallback(proxy::any_proxied)
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(proxy)
}

async fn not_found(
    axum::extract::State(proxy): axum::extract::State<Arc<Proxy>>,
    headers: HeaderMap,
) -> Response {
    answer::error(
        &proxy,
        &headers,
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "There is no such page here.",
    )
}

/// The query string, strictly decoded; `Err` is the answer to a malformed one.
fn query(proxy: &Proxy, headers: &HeaderMap, uri: &Uri) -> Result<Form, Box<Response>> {
    FormRules::PAGE
        .parse(uri.query().unwrap_or("").as_bytes())
        .map_err(|e| {
            Box::new(answer::error(
                proxy,
                headers,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Bad request",
                &format!("The link is malformed: {e}."),
            ))
        })
}

/// Where to send the person afterwards, as [`redirect_target_from`] with no proxy in front
/// believed.
fn redirect_target(proxy: &Proxy, form: &Form, headers: &HeaderMap) -> String {
    redirect_target_from(proxy, form, headers, None)
}

/// Where to send the person afterwards, the first that passes the redirect policy: `rd`,
/// `X-Auth-Request-Redirect`, then — from a trusted proxy in front only (`--reverse-proxy`,
/// `peer` in `--trusted-proxy-ip`) — `X-Forwarded-Proto` + `-Host` + `-Uri`, or `-Uri` alone;
/// else `/`.
fn redirect_target_from(
    proxy: &Proxy,
    form: &Form,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> String {
    let header = headers
        .get("x-auth-request-redirect")
        .and_then(|v| v.to_str().ok());
    let fwd = |name| proxy.trust.forwarded(headers, peer, name);
    let forwarded = fwd("x-forwarded-uri").map(|uri| {
        match (fwd("x-forwarded-proto"), fwd("x-forwarded-host")) {
            (Some(proto), Some(host)) if uri.starts_with('/') => format!("{proto}://{host}{uri}"),
            _ => uri.to_owned(),
        }
    });
    [
        form.get("rd").filter(|rd| !rd.is_empty()),
        header,
        forwarded.as_deref(),
    ]
    .into_iter()
    .flatten()
    .find_map(|rd| {
        let checked = proxy.rules.redirects.check(rd);
        if checked.is_none() {
            tracing::info!("refused a redirect target that is not ours or whitelisted");
        }
        checked
    })
    .unwrap_or_else(|| "/".to_owned())
}

/// `X-Forwarded-*` for the upstream.
fn upstream_identity(proxy: &Proxy, id: &ProxyIdentity, headers: &mut HeaderMap) {
    let h = &proxy.settings.headers;
    if h.pass_basic_auth {
        basic_auth(proxy, id, headers);
    }
    if !h.pass_user_headers {
        return;
    }
    match (&id.email, h.prefer_email_to_user) {
        (Some(email), true) => set_header(headers, "x-forwarded-user", email),
        (email, _) => {
            set_header(headers, "x-forwarded-user", &id.user);
            if let Some(email) = email {
                set_header(headers, "x-forwarded-email", email);
            }
        }
    }
    if !id.groups.is_empty() {
        set_header(headers, "x-forwarded-groups", &id.groups.join(","));
    }
    if let Some(name) = &id.preferred_username {
        set_header(headers, "x-forwarded-preferred-username", name);
    }
}

/// `Authorization: Basic` with the person (their e-mail address with
/// `--prefer-email-to-user`) and `--basic-auth-password`; nothing without a password.
fn basic_auth(proxy: &Proxy, id: &ProxyIdentity, headers: &mut HeaderMap) {
    let h = &proxy.settings.headers;
    let Some(password) = &h.basic_auth_password else {
        return;
    };
    let user = match (&id.email, h.prefer_email_to_user) {
        (Some(email), true) => email.as_str(),
        _ => id.user.as_str(),
    };
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    set_header(headers, "authorization", &format!("Basic {credentials}"));
}

/// `X-Auth-Request-*` (with `--set-xauthrequest`) and `GAP-Auth` for forward-auth answers.
fn auth_request_identity(proxy: &Proxy, id: &ProxyIdentity, headers: &mut HeaderMap) {
    set_header(headers, "gap-auth", id.email.as_deref().unwrap_or(&id.user));
    if proxy.settings.headers.set_basic_auth {
        basic_auth(proxy, id, headers);
    }
    if !proxy.settings.headers.set_xauthrequest {
        return;
    }
    set_header(headers, "x-auth-request-user", &id.user);
    if let Some(email) = &id.email {
        set_header(headers, "x-auth-request-email", email);
    }
    if let Some(name) = &id.preferred_username {
        set_header(headers, "x-auth-request-preferred-username", name);
    }
    if !id.groups.is_empty() {
        set_header(headers, "x-auth-request-groups", &id.groups.join(","));
    }
}
