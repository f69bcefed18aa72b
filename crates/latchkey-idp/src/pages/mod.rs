//! The idp's pages for people: sign-in, setup and one-time links, consent and refusal, the
//! account page. Each posts only same-origin; pages for a signed-in person also carry a CSRF
//! token bound to them.

mod account;
mod activity;
mod admin;
mod consent;
mod device;
mod links;
mod sign_in;
mod words;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_store::{Client, ClientId, StoreError};
use latchkey_web::Site;

use crate::client_policy::display_name;
use crate::state::Idp;

pub fn router(idp: Arc<Idp>) -> Router {
    Router::new()
        .route("/login", get(sign_in::get_login))
        .route("/logout", post(sign_in::post_logout))
        .route(
            "/setup/{token}",
            get(links::get_setup).post(links::post_setup),
        )
        .route("/lc/{token}", get(links::get_link).post(links::post_link))
        .route(
            "/consent",
            get(consent::get_consent).post(consent::post_consent),
        )
        .route("/refused", get(consent::get_refused))
        .route("/device", get(device::get_device).post(device::post_device))
        .route(
            "/.well-known/webfinger",
            get(crate::webfinger::get_webfinger),
        )
        .merge(account::routes())
        .merge(admin::routes())
        .merge(crate::api::routes())
        .with_state(idp)
}

/// A page that says something went wrong, in words, with the reference for the log when it
/// is our fault.
pub(crate) fn problem(site: &Site, status: StatusCode, title: &str, message: &str) -> Response {
    latchkey_web::message_page(site, status, title, message, None)
}

pub(crate) fn internal(site: &Site, e: impl std::fmt::Display) -> Response {
    let reference = latchkey_oidc::crypto::random_token()[..8].to_owned();
    tracing::error!(error = %e, reference = %reference, "idp page failed");
    problem(
        site,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        &format!(
            "Latchkey could not finish this. Try again in a moment; if it keeps happening, give \
             your administrator this reference: {reference}."
        ),
    )
}

pub(crate) fn forbidden_post(site: &Site) -> Response {
    problem(
        site,
        StatusCode::FORBIDDEN,
        "This form was not sent from Latchkey",
        "For your safety, Latchkey accepts this form only from its own pages. Go back, reload \
         the page and try again.",
    )
}

pub(crate) fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(axum::http::header::LOCATION, location.to_owned())],
    )
        .into_response()
}

/// Where to go after signing in: one of our authorize URLs (the engine's resume URL) or a
/// path on this site. Anything else is ignored.
pub(crate) fn safe_return(idp: &Idp, to: Option<&str>) -> Option<String> {
    let to = to?;
    let authorize = idp.url("/authorize?");
    if to.starts_with(&authorize) {
        return Some(to.to_owned());
    }
    let base = &idp.site().base;
    let local = to.starts_with('/')
        && !to.starts_with("//")
        && !to.contains('\\')
        && !to.chars().any(|c| c.is_control())
        && to.starts_with(base.as_str());
    local.then(|| to.to_owned())
}

/// The client an authorize URL of ours names, with its requested scopes.
pub(crate) async fn client_of(
    idp: &Idp,
    authorize_url: &str,
) -> Result<Option<(Client, Vec<String>)>, StoreError> {
    let Ok(url) = url::Url::parse(authorize_url) else {
        return Ok(None);
    };
    let mut client_id = None;
    let mut scope = String::new();
    for (k, v) in url.query_pairs() {
        match &*k {
            "client_id" => client_id = Some(v.into_owned()),
            "scope" => scope = v.into_owned(),
            _ => {}
        }
    }
    let Some(id) = client_id else { return Ok(None) };
    let client = idp
        .store
        .find_client(idp.issuer_id(), &ClientId::from(id))
        .await?;
    Ok(client.map(|c| (c, scope.split_whitespace().map(str::to_owned).collect())))
}

/// How a page names an application: its name and the initial shown in place of a logo.
pub(crate) struct AppView {
    pub name: String,
    pub initial: String,
    /// The uploaded logo's URL (ours: pages make no third-party requests); else the
    /// initial stands in.
    pub logo: Option<String>,
}

impl AppView {
    /// `base`: the idp's base URL, for the logo's.
    pub fn of(client: &Client, base: &str) -> AppView {
        let name = display_name(client).to_owned();
        let initial = latchkey_web::page::initial(&name);
        let logo = crate::client_policy::ClientPolicy::of(client)
            .logo_version
            .map(|v| format!("{base}/clients/{}/logo?v={v}", client.id.as_str()));
        AppView {
            name,
            initial,
            logo,
        }
    }
}

impl crate::state::Idp {
    pub(crate) fn app_view(&self, client: &Client) -> AppView {
        AppView::of(client, &self.site().base)
    }
}

/// The connection's peer, when the server records it.
pub(crate) type Peer = Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>;

pub(crate) fn peer_addr(peer: &Peer) -> Option<std::net::SocketAddr> {
    peer.as_ref().map(|p| p.0.0)
}
