//! `/device`: where a person enters the code a device shows (RFC 8628) and lets the device
//! sign in as them. Opening the page (even from `verification_uri_complete`) only fills in
//! the code: the person confirms it against their device's screen (RFC 8628 §5.4), must be
//! signed in, may use the client (its allowed groups), and then allows or denies with a form
//! bound to them. Codes tried are rate-limited per address.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use latchkey_oidc::routes::device::{
    DeviceRequest, VERIFICATION_PATH, approve_device, deny_device, display_user_code,
    find_device_request,
};
use latchkey_oidc::{Principal, Snapshot};
use latchkey_store::{Client, Subject, unix_now};
use latchkey_web::FormRules;
use serde::Deserialize;

use super::consent::scope_text;
use super::{AppView, Peer, forbidden_post, internal, peer_addr, problem, see_other};
use crate::client_policy::ClientPolicy;
use crate::limits::Action;
use crate::session::Person;
use crate::state::Idp;

const DEVICE_PURPOSE: &str = "device";
/// Longest code field read; real ones are 9 characters.
const MAX_CODE_FIELD: usize = 32;

#[derive(Deserialize)]
pub(crate) struct CodeQuery {
    user_code: Option<String>,
}

#[derive(Template)]
#[template(path = "device.html")]
struct EnterCode<'a> {
    action: String,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct Confirm {
    app: AppView,
    person: String,
    user_code: String,
    items: Vec<&'static str>,
    check: &'static str,
    action: String,
    csrf: String,
}

fn enter_code(idp: &Idp, status: StatusCode, user_code: &str, error: Option<&str>) -> Response {
    latchkey_web::render_card(
        idp.site(),
        status,
        "Connect a device",
        &EnterCode {
            action: idp.site().path(VERIFICATION_PATH),
            user_code,
            error,
        },
    )
}

const UNKNOWN_CODE: &str = "This code is not valid, or it has expired. Check the code on your \
                            device; if it has expired, start again on the device for a new one.";

pub(crate) async fn get_device(
    State(idp): State<Arc<Idp>>,
    Query(q): Query<CodeQuery>,
) -> Response {
    let code = q.user_code.unwrap_or_default();
    let code = if code.len() > MAX_CODE_FIELD {
        ""
    } else {
        &code
    };
    enter_code(&idp, StatusCode::OK, code, None)
}

/// The code entered (then the confirmation page), or the decision (with `decision`).
pub(crate) async fn post_device(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Response {
    let Ok(form) = FormRules::PAGE.parse(&body) else {
        return enter_code(&idp, StatusCode::BAD_REQUEST, "", Some(UNKNOWN_CODE));
    };
    let typed = form.get("user_code").unwrap_or_default().trim();
    let typed = if typed.len() > MAX_CODE_FIELD {
        ""
    } else {
        typed
    };
    let person = match idp.person(&headers).await {
        Ok(Some(p)) => p,
        Ok(None) => return sign_in_first(&idp, typed),
        Err(e) => return internal(idp.site(), e),
    };
    match form.get("decision") {
        None => enter(&idp, &headers, &peer, &person, typed).await,
        Some(decision) => {
            if idp
                .csrf
                .check(
                    &headers,
                    form.get(latchkey_web::TOKEN_FIELD),
                    DEVICE_PURPOSE,
                    person.user.id.as_str(),
                    unix_now(),
                )
                .is_err()
            {
                return forbidden_post(idp.site());
            }
            decide(&idp, &person, typed, decision == "allow").await
        }
    }
}

/// Back to this page, code filled in, once signed in.
fn sign_in_first(idp: &Idp, typed: &str) -> Response {
    let mut back = url::Url::parse(&idp.url(VERIFICATION_PATH)).expect("issuer is a valid URL");
    if !typed.is_empty() {
        back.query_pairs_mut().append_pair("user_code", typed);
    }
    let back = match back.query() {
        Some(q) => format!("{}?{q}", back.path()),
        None => back.path().to_owned(),
    };
    let mut login = url::Url::parse(&idp.url("/login")).expect("issuer is a valid URL");
    login.query_pairs_mut().append_pair("return_to", &back);
    see_other(login.as_str())
}

async fn enter(
    idp: &Idp,
    headers: &HeaderMap,
    peer: &Peer,
    person: &Person,
    typed: &str,
) -> Response {
    if latchkey_web::csrf::require_same_origin(headers, &idp.site().origin).is_err() {
        return forbidden_post(idp.site());
    }
    // Every code tried counts, so guessing is slow (20^8 codes, a handful a minute).
    if let Err(wait) = idp
        .limits
        .check(Action::Link, idp.client_ip(headers, peer_addr(peer)))
    {
        let mut resp = problem(
            idp.site(),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many codes tried",
            "Wait a minute, then enter the code again.",
        );
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            (wait.as_secs() + 1).to_string().parse().expect("digits"),
        );
        return resp;
    }
    let (request, client) = match lookup(idp, typed).await {
        Ok(Some(found)) => found,
        Ok(None) => return enter_code(idp, StatusCode::BAD_REQUEST, typed, Some(UNKNOWN_CODE)),
        Err(r) => return r,
    };
    if let Some(refused) = refuse_outsider(idp, person, &client, &request).await {
        return refused;
    }
    let app = idp.app_view(&client);
    let title = format!("Connect a device to {}?", app.name);
    let mut items: Vec<&'static str> = request
        .scope
        .split_whitespace()
        .filter_map(scope_text)
        .collect();
    items.dedup();
    latchkey_web::render_card(
        idp.site(),
        StatusCode::OK,
        &title,
        &Confirm {
            app,
            person: person.user.display_name.clone(),
            user_code: display_user_code(&request.user_code),
            items,
            check: latchkey_web::icons::CHECK,
            action: idp.site().path(VERIFICATION_PATH),
            csrf: idp
                .csrf
                .token(DEVICE_PURPOSE, person.user.id.as_str(), unix_now()),
        },
    )
}

async fn decide(idp: &Idp, person: &Person, typed: &str, allow: bool) -> Response {
    let (request, client) = match lookup(idp, typed).await {
        Ok(Some(found)) => found,
        Ok(None) => return no_longer(idp),
        Err(r) => return r,
    };
    // Checked again: the person's groups may have changed since the confirmation page.
    if let Some(refused) = refuse_outsider(idp, person, &client, &request).await {
        return refused;
    }
    let app = idp.app_view(&client);
    let done = if allow {
        let principal = Principal {
            subject: Subject(person.user.id.0.clone()),
            auth_time: person.session.auth_time,
            amr: person.session.amr.clone(),
            snapshot: Snapshot::default(),
        };
        approve_device(idp.store(), idp.issuer_id(), &request.user_code, &principal).await
    } else {
        deny_device(idp.store(), idp.issuer_id(), &request.user_code).await
    };
    match done {
        Ok(true) => {}
        Ok(false) => return no_longer(idp),
        Err(e) => return internal(idp.site(), e),
    }
    tracing::info!(user = %person.user.username, client = %client.id, allow, "device code answered");
    if allow {
        latchkey_web::message_page(
            idp.site(),
            StatusCode::OK,
            "You can go back to your device",
            &format!(
                "Your device is signing in to {} as {}. You can close this page.",
                app.name, person.user.display_name
            ),
            None,
        )
    } else {
        latchkey_web::message_page(
            idp.site(),
            StatusCode::OK,
            "Device not connected",
            &format!(
                "The device was told no: it cannot use {} as you. You can close this page.",
                app.name
            ),
            None,
        )
    }
}

/// The pending request and its client, or `None` when the code names none (any more).
async fn lookup(idp: &Idp, typed: &str) -> Result<Option<(DeviceRequest, Client)>, Response> {
    let request = match find_device_request(idp.store(), idp.issuer_id(), typed).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => return Err(internal(idp.site(), e)),
    };
    match idp
        .store
        .find_client(idp.issuer_id(), &request.client_id)
        .await
    {
        Ok(Some(c)) => Ok(Some((request, c))),
        Ok(None) => Ok(None),
        Err(e) => Err(internal(idp.site(), e)),
    }
}

/// A person outside the client's allowed groups is told so, and the device gets
/// `access_denied` rather than waiting until the code expires.
async fn refuse_outsider(
    idp: &Idp,
    person: &Person,
    client: &Client,
    request: &DeviceRequest,
) -> Option<Response> {
    let policy = ClientPolicy::of(client);
    if policy.allowed_groups.is_empty() {
        return None;
    }
    let groups = match idp.store.find_directory_claims(&person.user.id).await {
        Ok(c) => c.groups,
        Err(e) => return Some(internal(idp.site(), e)),
    };
    if policy.admits(&groups) {
        return None;
    }
    if let Err(e) = deny_device(idp.store(), idp.issuer_id(), &request.user_code).await {
        return Some(internal(idp.site(), e));
    }
    let app = idp.app_view(client);
    Some(problem(
        idp.site(),
        StatusCode::FORBIDDEN,
        &format!("You cannot use {}", app.name),
        &format!(
            "Your account {} is not in any of the groups allowed to use {}, so the device was \
             not connected. If you need it, ask your administrator to add you to one of its groups.",
            person.user.username, app.name
        ),
    ))
}

fn no_longer(idp: &Idp) -> Response {
    problem(
        idp.site(),
        StatusCode::BAD_REQUEST,
        "This code no longer works",
        "It expired, or it was answered already. If your device still waits, start again on the \
         device for a new code.",
    )
}
