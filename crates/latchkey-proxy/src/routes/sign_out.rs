//! `/oauth2/sign_out`: ends the session, clears the cookie, and sends the person to `rd`
//! (or `X-Auth-Request-Redirect`) when it is ours or whitelisted, else to `/`.
//!
//! With `--backend-logout-url`, that URL is asked first (server-side, `{id_token}` filled in).
//! With `sign_out_at_provider` and a provider that names an `end_session_endpoint`, the
//! browser goes there instead (RP-initiated logout, with the session's ID token as the hint)
//! and the provider sends it back to `rd`, or to our sign-in page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;

use super::sign_in::found;
use super::{query, redirect_target};
use crate::Proxy;
use crate::answer;
use crate::provider::EndSession;

pub async fn sign_out(State(proxy): State<Arc<Proxy>>, headers: HeaderMap, uri: Uri) -> Response {
    let form = match query(&proxy, &headers, &uri) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let rd = redirect_target(&proxy, &form, &headers);
    let id_token = match proxy.sessions.end(&headers).await {
        Ok(t) => t,
        Err(e) => return answer::store_unavailable(&proxy, &headers, &e),
    };
    let mut location = rd.clone();
    if let Some(id_token) = &id_token {
        if let Some(template) = &proxy.settings.backend_logout_url {
            proxy.rp.backend_logout(template, id_token).await;
        }
        if proxy.settings.sign_out_at_provider {
            // The provider needs an absolute address; without a (valid) `rd`, our sign-in page.
            let back = if rd != "/" {
                absolute(&proxy, &rd)
            } else {
                absolute(&proxy, &format!("{}/sign_in", proxy.settings.proxy_prefix))
            };
            let end = EndSession {
                id_token,
                client_id: &proxy.settings.provider.client_id,
                post_logout_redirect_uri: &back,
            };
            if let Some(url) = proxy.rp.end_session_url(&end).await {
                location = url;
            }
        }
    }
    let mut resp = found(&location);
    resp.headers_mut()
        .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
    resp
}

/// `target` (a checked redirect target: a path of ours or an absolute whitelisted URL) as an
/// absolute URL.
fn absolute(proxy: &Proxy, target: &str) -> String {
    if target.starts_with('/') {
        format!("{}{target}", proxy.site.origin)
    } else {
        target.to_owned()
    }
}
