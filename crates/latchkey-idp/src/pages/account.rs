//! `/account`: the signed-in person's profile, passkeys (add, rename, delete after a fresh
//! passkey check) and sessions (end any of them).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_store::{Client, ClientId, Subject};
use latchkey_store::{Passkey, unix_now};
use latchkey_web::{FormRules, TOKEN_FIELD};

use super::admin::{Section, render_page};
use super::words::{ago, device};
use super::{AppView, forbidden_post, internal, problem, see_other};
use crate::client_policy::ClientPolicy;
use crate::session::Person;
use crate::state::Idp;

pub(super) const ACCOUNT_PURPOSE: &str = "account";

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .route("/account", get(get_account))
        .route("/account/passkeys/new", get(get_new_passkey))
        .route(
            "/account/passkeys/{id}/rename",
            get(get_rename).post(post_rename),
        )
        .route(
            "/account/passkeys/{id}/delete",
            get(get_delete).post(post_delete),
        )
        .route("/account/sessions/{id}/end", post(post_end_session))
        .route("/account/apps/{id}/revoke", post(post_revoke_app))
}

/// The signed-in person, or the answer that sends them to sign in first.
pub(super) async fn person_or_sign_in(
    idp: &Idp,
    headers: &HeaderMap,
    back: &str,
) -> Result<Person, Response> {
    match idp.person(headers).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => {
            let mut url = url::Url::parse(&idp.url("/login")).expect("issuer is a valid URL");
            url.query_pairs_mut()
                .append_pair("return_to", &idp.site().path(back));
            Err(see_other(&String::from(url)))
        }
        Err(e) => Err(internal(idp.site(), e)),
    }
}

/// The signed-in person, as a handler argument: anyone else is sent to sign in and brought
/// back to this path.
pub(super) struct SignedIn(pub Person);

impl axum::extract::FromRequestParts<Arc<Idp>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        idp: &Arc<Idp>,
    ) -> Result<SignedIn, Response> {
        let back = parts.uri.path().to_owned();
        person_or_sign_in(idp, &parts.headers, &back)
            .await
            .map(SignedIn)
    }
}

/// Renders `content` in the account shell.
fn page<T: Template>(idp: &Idp, person: &Person, title: &str, content: &T) -> Response {
    render_page(
        idp,
        person,
        Section::Account,
        StatusCode::OK,
        title,
        content,
    )
}

pub(crate) struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub added: String,
    pub last_used: String,
    pub synced: bool,
}

pub(crate) struct SessionRow {
    pub id: String,
    pub device: String,
    pub ip: String,
    pub signed_in: String,
    pub last_used: String,
    pub current: bool,
    pub by_link: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct Account {
    name: String,
    username: String,
    email: String,
    base: String,
    csrf: String,
    passkeys: Vec<PasskeyRow>,
    sessions: Vec<SessionRow>,
    launch: Vec<LaunchCard>,
    access: Vec<AccessRow>,
    /// The person's own recent sign-ins and changes.
    activity: Vec<super::activity::ActivityRow>,
    /// What "Add a passkey" does: register at once while the sign-in is recent (or just
    /// confirmed), else confirm with a passkey first; `None` when neither can be done (no
    /// passkey to confirm with, and an old sign-in).
    add: Option<AddPasskey>,
}

pub(crate) struct AddPasskey {
    kind: &'static str,
    label: &'static str,
    start: String,
    finish: String,
}

fn passkey_row(p: &Passkey, now: i64) -> PasskeyRow {
    PasskeyRow {
        id: p.credential_id.clone(),
        name: p.name.clone(),
        added: ago(now, p.created_at),
        last_used: p
            .last_used_at
            .map_or_else(|| "never".to_owned(), |t| ago(now, t)),
        synced: p.backup_eligible,
    }
}

fn add_passkey(
    idp: &Idp,
    headers: &HeaderMap,
    person: &Person,
    has_passkey: bool,
    now: i64,
) -> Option<AddPasskey> {
    let recent = person.session.auth_time >= now - crate::api::FRESH_FOR_NEW_PASSKEY;
    if recent || idp.reauthenticated(headers, person) {
        Some(AddPasskey {
            kind: "register",
            label: "Add a passkey",
            start: idp.site().path("/api/webauthn/register/start"),
            finish: idp.site().path("/api/webauthn/register/finish"),
        })
    } else if has_passkey {
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        back.append_pair("return_to", &idp.site().path("/account"));
        Some(AddPasskey {
            kind: "reauthenticate",
            label: "Confirm it's you to add a passkey",
            start: idp.site().path("/api/webauthn/reauthenticate/start"),
            finish: format!(
                "{}?{}",
                idp.site().path("/api/webauthn/reauthenticate"),
                back.finish()
            ),
        })
    } else {
        None
    }
}

async fn get_account(
    State(idp): State<Arc<Idp>>,
    SignedIn(person): SignedIn,
    headers: HeaderMap,
) -> Response {
    let now = unix_now();
    let passkeys: Vec<PasskeyRow> = match idp.store.list_passkeys(&person.user.id).await {
        Ok(list) => list.iter().map(|p| passkey_row(p, now)).collect(),
        Err(e) => return internal(idp.site(), e),
    };
    let subject = latchkey_store::Subject(person.user.id.0.clone());
    let sessions = match idp
        .store
        .list_sessions(idp.issuer_id(), &subject, now)
        .await
    {
        Ok(list) => list
            .into_iter()
            .map(|s| SessionRow {
                current: s.id_hash == person.session.id_hash,
                by_link: s.amr.iter().any(|a| a == crate::session::AMR_LINK),
                device: device(&s.user_agent),
                ip: s.ip,
                signed_in: ago(now, s.auth_time),
                last_used: ago(now, s.last_used_at),
                id: s.id_hash,
            })
            .collect(),
        Err(e) => return internal(idp.site(), e),
    };
    let clients = match idp.store.list_clients(idp.issuer_id()).await {
        Ok(clients) => clients,
        Err(e) => return internal(idp.site(), e),
    };
    let (launch, access) = match my_apps(&idp, &person, &clients, now).await {
        Ok(apps) => apps,
        Err(e) => return internal(idp.site(), e),
    };
    let activity = match super::activity::of_person(&idp, &person, &clients, now).await {
        Ok(rows) => rows,
        Err(e) => return internal(idp.site(), e),
    };
    let content = Account {
        launch,
        access,
        activity,
        name: person.user.display_name.clone(),
        username: person.user.username.clone(),
        email: person.user.email.clone().unwrap_or_default(),
        base: idp.site().base.clone(),
        csrf: idp
            .csrf
            .token(ACCOUNT_PURPOSE, person.user.id.as_str(), now),
        add: add_passkey(&idp, &headers, &person, !passkeys.is_empty(), now),
        passkeys,
        sessions,
    };
    page(&idp, &person, "Your account", &content)
}

#[derive(Template)]
#[template(path = "passkey_new.html")]
struct NewPasskey {
    name: String,
    register_start: String,
    register_finish: String,
    account: String,
}

/// The page a person lands on after a link: register a passkey now.
async fn get_new_passkey(State(idp): State<Arc<Idp>>, SignedIn(person): SignedIn) -> Response {
    latchkey_web::render_card_with_script(
        idp.site(),
        StatusCode::OK,
        "Create your passkey",
        &NewPasskey {
            name: person.user.display_name,
            register_start: idp.site().path("/api/webauthn/register/start"),
            register_finish: idp.site().path("/api/webauthn/register/finish"),
            account: idp.site().path("/account"),
        },
    )
}

async fn own_passkey(idp: &Idp, person: &Person, id: &str) -> Result<Passkey, Response> {
    match idp.store.find_passkey(id).await {
        Ok(Some(p)) if p.user_id == person.user.id => Ok(p),
        Ok(_) => Err(problem(
            idp.site(),
            StatusCode::NOT_FOUND,
            "No such passkey",
            "This passkey is not one of yours, or it was deleted.",
        )),
        Err(e) => Err(internal(idp.site(), e)),
    }
}

fn check_form(
    idp: &Idp,
    person: &Person,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<latchkey_web::Form> {
    let form = FormRules::PAGE.parse(body).ok()?;
    idp.csrf
        .check(
            headers,
            form.get(TOKEN_FIELD),
            ACCOUNT_PURPOSE,
            person.user.id.as_str(),
            unix_now(),
        )
        .ok()?;
    Some(form)
}

#[derive(Template)]
#[template(path = "passkey_rename.html")]
struct Rename {
    name: String,
    action: String,
    csrf: String,
    account: String,
    error: Option<String>,
}

async fn get_rename(
    State(idp): State<Arc<Idp>>,
    SignedIn(person): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let back = format!("/account/passkeys/{id}/rename");
    let passkey = match own_passkey(&idp, &person, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let content = Rename {
        name: passkey.name,
        action: idp.site().path(&back),
        csrf: idp
            .csrf
            .token(ACCOUNT_PURPOSE, person.user.id.as_str(), unix_now()),
        account: idp.site().path("/account"),
        error: None,
    };
    page(&idp, &person, "Rename passkey", &content)
}

async fn post_rename(
    State(idp): State<Arc<Idp>>,
    SignedIn(person): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let back = format!("/account/passkeys/{id}/rename");
    let Some(form) = check_form(&idp, &person, &headers, &body) else {
        return forbidden_post(idp.site());
    };
    let name = form.get("name").unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        let content = Rename {
            name,
            action: idp.site().path(&back),
            csrf: idp
                .csrf
                .token(ACCOUNT_PURPOSE, person.user.id.as_str(), unix_now()),
            account: idp.site().path("/account"),
            error: Some("Give the passkey a name of 1 to 64 characters.".into()),
        };
        return page(&idp, &person, "Rename passkey", &content);
    }
    match idp
        .store
        .update_passkey_name(&person.user.id, &id, &name)
        .await
    {
        Ok(true) => see_other(&idp.site().path("/account")),
        Ok(false) => own_passkey(&idp, &person, &id)
            .await
            .err()
            .unwrap_or_else(|| internal(idp.site(), "rename lost")),
        Err(e) => internal(idp.site(), e),
    }
}

#[derive(Template)]
#[template(path = "passkey_delete.html")]
struct Delete {
    name: String,
    last: bool,
    fresh: bool,
    action: String,
    csrf: String,
    account: String,
    reauth_start: String,
    reauth_finish: String,
}

async fn get_delete(
    State(idp): State<Arc<Idp>>,
    SignedIn(person): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let back = format!("/account/passkeys/{id}/delete");
    let passkey = match own_passkey(&idp, &person, &id).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let count = match idp.store.list_passkeys(&person.user.id).await {
        Ok(l) => l.len(),
        Err(e) => return internal(idp.site(), e),
    };
    let mut finish = url::form_urlencoded::Serializer::new(String::new());
    finish.append_pair("return_to", &idp.site().path(&back));
    let content = Delete {
        name: passkey.name,
        last: count <= 1,
        fresh: idp.reauthenticated(&headers, &person),
        action: idp.site().path(&back),
        csrf: idp
            .csrf
            .token(ACCOUNT_PURPOSE, person.user.id.as_str(), unix_now()),
        account: idp.site().path("/account"),
        reauth_start: idp.site().path("/api/webauthn/reauthenticate/start"),
        reauth_finish: format!(
            "{}?{}",
            idp.site().path("/api/webauthn/reauthenticate"),
            finish.finish()
        ),
    };
    page(&idp, &person, "Delete passkey", &content)
}

async fn post_delete(
    State(idp): State<Arc<Idp>>,
    SignedIn(person): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let back = format!("/account/passkeys/{id}/delete");
    if check_form(&idp, &person, &headers, &body).is_none() {
        return forbidden_post(idp.site());
    }
    if !idp.reauthenticated(&headers, &person) {
        return see_other(&idp.site().path(&back));
    }
    match idp.store.delete_passkey(&person.user.id, &id).await {
        Ok(true) => {
            tracing::info!(user = %person.user.username, "passkey deleted");
            let subject = latchkey_store::Subject(person.user.id.0.clone());
            let ip = idp.client_ip(&headers, None).map(|ip| ip.to_string());
            idp.audit(
                crate::audit::PASSKEY_REMOVED,
                Some(&subject),
                None,
                ip.as_deref(),
                serde_json::json!({"passkey": id}),
            )
            .await;
            see_other(&idp.site().path("/account"))
        }
        Ok(false) => own_passkey(&idp, &person, &id)
            .await
            .err()
            .unwrap_or_else(|| internal(idp.site(), "delete lost")),
        Err(e) => internal(idp.site(), e),
    }
}

async fn post_end_session(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let person = match posted(&idp, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let subject = Subject(person.user.id.0.clone());
    match idp
        .store
        .delete_subject_session(idp.issuer_id(), &subject, &id)
        .await
    {
        Ok(true) => idp.logged_out(&subject, Some(&id)),
        Ok(false) => {}
        Err(e) => return internal(idp.site(), e),
    }
    let to = if id == person.session.id_hash {
        "/login"
    } else {
        "/account"
    };
    see_other(&idp.site().path(to))
}

/// An application the person may open: it has a launch URL and admits them.
pub(crate) struct LaunchCard {
    pub app: AppView,
    pub url: String,
    pub host: String,
}

/// An application the person allowed, or that holds a grant from them.
pub(crate) struct AccessRow {
    pub id: String,
    pub app: AppView,
    pub since: String,
}

/// "My apps": what the person may open, and what holds access to their account.
async fn my_apps(
    idp: &Idp,
    person: &Person,
    clients: &[Client],
    now: i64,
) -> Result<(Vec<LaunchCard>, Vec<AccessRow>), latchkey_store::StoreError> {
    let subject = Subject(person.user.id.0.clone());
    let groups = idp
        .store
        .find_directory_claims(&person.user.id)
        .await?
        .groups;
    let launch = clients
        .iter()
        .filter_map(|c| {
            let policy = ClientPolicy::of(c);
            if !policy.admits(&groups) {
                return None;
            }
            let url = policy.launch_url?;
            let host = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            Some(LaunchCard {
                app: idp.app_view(c),
                url,
                host,
            })
        })
        .collect();
    let consents = idp
        .store
        .list_consented_clients(idp.issuer_id(), &subject)
        .await?;
    let granted = idp
        .store
        .list_granted_clients(idp.issuer_id(), &subject, now)
        .await?;
    let mut access: Vec<AccessRow> = Vec::new();
    let mut add = |id: &ClientId, since: String| {
        if access.iter().any(|a| a.id == id.0) {
            return;
        }
        if let Some(c) = clients.iter().find(|c| &c.id == id) {
            access.push(AccessRow {
                id: id.0.clone(),
                app: idp.app_view(c),
                since,
            });
        }
    };
    for (id, at) in &consents {
        add(id, format!("Allowed {}", ago(now, *at)));
    }
    for id in &granted {
        add(id, "Signed in without being asked".to_owned());
    }
    Ok((launch, access))
}

/// The signed-in person of a form posted from the account page (same origin, their token).
async fn posted(idp: &Idp, headers: &HeaderMap, body: &[u8]) -> Result<Person, Response> {
    let person = person_or_sign_in(idp, headers, "/account").await?;
    match check_form(idp, &person, headers, body) {
        Some(_) => Ok(person),
        None => Err(forbidden_post(idp.site())),
    }
}

/// "Revoke access": the consent is forgotten and the client's grants from this person are
/// revoked (its refresh tokens stop working); next time the person is asked again.
async fn post_revoke_app(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Path(id): Path<ClientId>,
    body: Bytes,
) -> Result<Response, Response> {
    let person = posted(&idp, &headers, &body).await?;
    let subject = Subject(person.user.id.0.clone());
    let grants = idp
        .store
        .revoke_subject_client(idp.issuer_id(), &subject, &id, unix_now())
        .await
        .map_err(|e| internal(idp.site(), e))?;
    tracing::info!(user = %person.user.username, client = %id, grants, "access revoked");
    Ok(see_other(&idp.site().path("/account#apps-h")))
}
