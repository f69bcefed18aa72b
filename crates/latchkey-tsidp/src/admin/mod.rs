//! The admin UI for this issuer's clients, at `/` and `/clients/…`: list, create, edit the
//! name and redirect URIs, regenerate the secret, delete. Only for tailnet people whose
//! `tailscale.com/cap/tsidp` grant says `allow_admin_ui`; never over Funnel; loopback callers
//! get no rights of their own (administration on the machine is the `latchkey clients`
//! command). Every form post passes both CSRF layers of `latchkey-web`.

mod access;
mod clients;
mod input;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use latchkey_oidc::Provider;
use latchkey_web::{Csrf, Site};

use crate::authenticator::TailnetAuthenticator;

pub use access::AdminUser;

/// Largest form the admin pages accept.
const BODY_LIMIT: usize = 64 * 1024;

/// The label the CSRF key is derived under from the instance key (a MAC of a fixed label
/// is a key of its own; no other MAC input starts like this).
const CSRF_KEY_LABEL: &[u8] = b"latchkey/v1/key/csrf/tsidp-admin";

/// What the CSRF tokens of these pages are for.
const CSRF_PURPOSE: &str = "tsidp-admin";

#[derive(Clone)]
pub(crate) struct AdminState {
    provider: Arc<Provider>,
    authenticator: Arc<TailnetAuthenticator>,
    csrf: Arc<Csrf>,
    site: Arc<Site>,
}

/// The admin pages (their stylesheet is served by the engine's router), to merge into the tsidp role's router (before the
/// Funnel layer, which refuses them too).
pub fn router(provider: Arc<Provider>, authenticator: Arc<TailnetAuthenticator>) -> Router {
    let site = Site::from_issuer(provider.issuer());
    let csrf = Csrf::new(provider.master.mac(CSRF_KEY_LABEL), site.origin.clone());
    let state = AdminState {
        provider,
        authenticator,
        csrf: Arc::new(csrf),
        site: Arc::new(site),
    };
    Router::new()
        .route("/", get(clients::get_admin))
        .route("/clients", post(clients::post_client_create))
        .route("/clients/new", get(clients::get_client_new))
        .route(
            "/clients/{id}",
            get(clients::get_client).post(clients::post_client_update),
        )
        .route("/clients/{id}/secret", post(clients::post_client_secret))
        .route(
            "/clients/{id}/delete",
            get(clients::get_client_delete).post(clients::post_client_delete),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Paths of the admin UI (refused over Funnel).
pub fn is_admin_path(path: &str) -> bool {
    path == "/" || path == "/clients" || path.starts_with("/clients/")
}
