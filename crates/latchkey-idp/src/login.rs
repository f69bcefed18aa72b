//! The idp's own pages.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use latchkey_web::Site;

/// The pages, for the issuer at `site` (their stylesheet is served by the engine's router).
pub fn router(site: Site) -> Router {
    Router::new()
        .route("/login", get(get_login))
        .with_state(site)
}

async fn get_login(State(site): State<Site>) -> Response {
    latchkey_web::message_page(
        &site,
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is not available",
        "Passkey sign-in is not part of this build of Latchkey yet. Applications can use the \
         client_credentials grant; people cannot sign in.",
        None,
    )
}
