//! `/oauth2/sign_out`: ends the session, clears the cookie, and sends the person to `rd`
//! (or `X-Auth-Request-Redirect`) when it is ours or whitelisted, else to `/`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;

use super::sign_in::found;
use super::{query, redirect_target};
use crate::Proxy;
use crate::answer;

pub async fn sign_out(State(proxy): State<Arc<Proxy>>, headers: HeaderMap, uri: Uri) -> Response {
    let form = match query(&proxy, &headers, &uri) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    let rd = redirect_target(&proxy, &form, &headers);
    if let Err(e) = proxy.sessions.end(&headers).await {
        return answer::store_unavailable(&proxy, &headers, &e);
    }
    let mut resp = found(&rd);
    resp.headers_mut()
        .append(header::SET_COOKIE, proxy.sessions.cookies.clear_session());
    resp
}
