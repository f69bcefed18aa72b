//! Funnel rules (as tsidp): requests that reached us from the public internet through Tailscale
//! Funnel may fetch discovery and keys and use the token and userinfo endpoints, but may not
//! sign anyone in, register clients or use the admin UI.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_oidc::error::{ErrorPage, OAuthError};
use latchkey_web::Site;

use crate::admin::is_admin_path;
use crate::authenticator::FUNNEL_HEADER;

/// A middleware (`axum::middleware::from_fn_with_state`) whose state is the issuer's
/// [`Site`], for its refusal pages.
pub async fn refuse_over_funnel(State(site): State<Site>, req: Request, next: Next) -> Response {
    if !req.headers().contains_key(FUNNEL_HEADER) {
        return next.run(req).await;
    }
    match req.uri().path() {
        "/authorize" => ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Not available over Funnel",
            "Sign-in works only from inside the tailnet.",
        )
        .render(&site),
        "/register" => {
            OAuthError::new("access_denied", "registration is not available over Funnel")
                .with_status(StatusCode::FORBIDDEN)
                .into_response()
        }
        path if is_admin_path(path) => ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Not available over Funnel",
            "The admin UI works only from inside the tailnet.",
        )
        .render(&site),
        _ => next.run(req).await,
    }
}
