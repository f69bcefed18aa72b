//! `POST /oauth2/backchannel_logout`: the provider says a person signed out (OpenID Connect
//! Back-Channel Logout 1.0). The logout token is validated as the provider's; the sessions it
//! names end: the one with its `sid`, or every session of its `sub`. Register
//! `https://PROXY/oauth2/backchannel_logout` as the client's `backchannel_logout_uri`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_store::{Subject, unix_now};
use latchkey_web::FormRules;
use serde_json::json;

use crate::Proxy;

/// The answers of §2.8: 200 with no body, or 400 with an OAuth-style error.
fn answer(status: StatusCode, error: Option<(&str, &str)>) -> Response {
    let mut resp = match error {
        Some((code, description)) => (
            status,
            axum::Json(json!({"error": code, "error_description": description})),
        )
            .into_response(),
        None => status.into_response(),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub async fn post_backchannel_logout(State(proxy): State<Arc<Proxy>>, body: Bytes) -> Response {
    let Some(token) = FormRules::PROTOCOL
        .parse(&body)
        .ok()
        .and_then(|f| f.get("logout_token").map(str::to_owned))
    else {
        return answer(
            StatusCode::BAD_REQUEST,
            Some(("invalid_request", "logout_token is missing")),
        );
    };
    let claims = match proxy.rp.validate_logout_token(&token, unix_now()).await {
        Ok(c) => c,
        Err(e) if e.is_fatal() => {
            tracing::info!(error = %e, "back-channel logout token refused");
            return answer(
                StatusCode::BAD_REQUEST,
                Some(("invalid_request", "the logout token is not valid")),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout: the provider could not be asked");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(("temporarily_unavailable", "try again later")),
            );
        }
    };
    let ended = match (&claims.sid, &claims.sub) {
        (Some(sid), _) => proxy.sessions.end_by_sid(sid).await,
        (None, Some(sub)) => proxy.sessions.end_by_subject(&Subject(sub.clone())).await,
        (None, None) => Ok(0),
    };
    match ended {
        Ok(n) => {
            tracing::info!(sessions = n, "back-channel logout ended sessions");
            answer(StatusCode::OK, None)
        }
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout: ending sessions failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(("temporarily_unavailable", "try again later")),
            )
        }
    }
}
