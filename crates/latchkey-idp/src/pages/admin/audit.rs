//! `/admin/audit`: the audit log, newest first.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use latchkey_store::unix_now;

use super::{Admin, Page, Section, failed, render_page};
use crate::pages::activity::{ActivityRow, rows};
use crate::state::Idp;

/// How many events the page shows.
const SHOWN: i64 = 200;

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new().route("/admin/audit", get(get_audit))
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct Audit {
    rows: Vec<ActivityRow>,
}

async fn get_audit(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    let events = idp
        .store
        .list_audit_events(idp.issuer_id(), SHOWN)
        .await
        .map_err(failed(&idp))?;
    let users = idp.store.list_users().await.map_err(failed(&idp))?;
    let clients = idp
        .store
        .list_clients(idp.issuer_id())
        .await
        .map_err(failed(&idp))?;
    let content = Audit {
        rows: rows(&events, &users, &clients, unix_now()),
    };
    Ok(render_page(
        &idp,
        &person,
        Section::Audit,
        StatusCode::OK,
        "Audit log",
        &content,
    ))
}
