//! `/admin/…`: the directory and the clients, for people the directory marks as
//! administrators. Anyone else signed in gets a page that says so (403); someone not signed
//! in is sent to sign in first. Every form posts same-origin with a CSRF token bound to the
//! administrator; destructive actions ask on a page of their own.

mod audit;
mod claims;
mod clients;
mod groups;
mod logos;
mod people;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use latchkey_store::{ClientId, GroupId, Subject, UserId, unix_now};
use latchkey_web::{Form, FormRules, NavLink, Shell, SignOut, TOKEN_FIELD};
use serde_json::{Value, json};

use super::account::{ACCOUNT_PURPOSE, person_or_sign_in};
use super::{forbidden_post, internal, problem};
use crate::session::Person;
use crate::state::Idp;

const ADMIN_PURPOSE: &str = "admin";

/// A page, or the page that says why not (sign in first, not an administrator, a store
/// failure…): handlers use `?`.
type Page = Result<Response, Response>;

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .merge(people::routes())
        .merge(groups::routes())
        .merge(clients::routes())
        .merge(logos::routes())
        .merge(audit::routes())
}

/// The sections of the app shell's top bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Account,
    People,
    Groups,
    Clients,
    Audit,
}

/// The top bar's links: "Account" for everyone, the admin sections for administrators.
fn nav(idp: &Idp, person: &Person, current: Section) -> Vec<NavLink> {
    let mut sections = vec![(Section::Account, "Account", "/account")];
    if person.user.is_admin {
        sections.extend([
            (Section::People, "People", "/admin/people"),
            (Section::Groups, "Groups", "/admin/groups"),
            (Section::Clients, "Clients", "/admin/clients"),
            (Section::Audit, "Audit log", "/admin/audit"),
        ]);
    }
    sections
        .into_iter()
        .map(|(s, label, path)| NavLink {
            label: label.into(),
            href: idp.site().path(path),
            current: s == current,
        })
        .collect()
}

/// Renders `content` in the app shell, with `current` marked in the top bar.
pub(crate) fn render_page<T: Template>(
    idp: &Idp,
    person: &Person,
    current: Section,
    status: StatusCode,
    title: &str,
    content: &T,
) -> Response {
    let nav = nav(idp, person, current);
    let logout = idp.site().path("/logout");
    // Sign-out checks the origin only; the shell carries the page's own token.
    let purpose = match current {
        Section::Account => ACCOUNT_PURPOSE,
        _ => ADMIN_PURPOSE,
    };
    let token = idp.csrf.token(purpose, person.user.id.as_str(), unix_now());
    let shell = Shell {
        nav: &nav,
        person: Some(&person.user.display_name),
        sign_out: Some(SignOut {
            action: &logout,
            csrf_field: TOKEN_FIELD,
            csrf_token: &token,
        }),
    };
    latchkey_web::render_app_with_script(idp.site(), status, title, &shell, content)
}

/// Largest form the admin pages accept.
const BODY_LIMIT: usize = 64 * 1024;

/// How the admin pages' forms are read: the client form's allowed-group checkboxes share
/// one name.
const FORM: FormRules<'static> = FormRules::PAGE.repeatable(&["allowed_group"]);

/// The signed-in administrator. Anyone else gets a page that says so (403); someone not
/// signed in is sent to sign in, and back to the page they asked for (to the admin home
/// after a form).
pub(super) struct Admin(pub Person);

impl FromRequestParts<Arc<Idp>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, idp: &Arc<Idp>) -> Result<Self, Response> {
        let back = match parts.method {
            Method::GET => parts.uri.path(),
            _ => "/admin",
        };
        let person = person_or_sign_in(idp, &parts.headers, back).await?;
        if !person.user.is_admin {
            return Err(latchkey_web::message_page(
                idp.site(),
                StatusCode::FORBIDDEN,
                "Only administrators can open this page",
                "Your account can sign in to applications but cannot change the directory or \
                 the clients. If you need to, ask an administrator.",
                Some(&idp.site().path("/account")),
            ));
        }
        Ok(Admin(person))
    }
}

/// A form an administrator posted from one of our pages (same origin, their CSRF token).
pub(super) struct Posted {
    pub person: Person,
    pub form: Form,
    pub by: By,
}

/// Who posted a form, for the audit log.
pub(super) struct By {
    subject: Subject,
    username: String,
    ip: Option<String>,
}

impl By {
    fn of(idp: &Idp, person: &Person, headers: &HeaderMap, peer: Option<SocketAddr>) -> By {
        By {
            subject: Subject(person.user.id.0.clone()),
            username: person.user.username.clone(),
            ip: idp.client_ip(headers, peer).map(|ip| ip.to_string()),
        }
    }

    /// Records a change in the log and the audit table (`kind` as Pocket ID names its
    /// events); failing to record it is logged, never fatal.
    async fn record(&self, idp: &Idp, kind: &str, client: Option<&ClientId>, mut detail: Value) {
        tracing::info!(kind, by = %self.username, detail = %detail, "admin pages: directory or client changed");
        detail["via"] = json!("admin_pages");
        idp.audit(
            kind,
            Some(&self.subject),
            client,
            self.ip.as_deref(),
            detail,
        )
        .await;
    }

    /// Records a membership added or removed.
    async fn membership(&self, idp: &Idp, group: &GroupId, user: &UserId, added: bool) {
        let kind = match added {
            true => "GROUP_MEMBER_ADDED",
            false => "GROUP_MEMBER_REMOVED",
        };
        let detail = json!({"group": group, "user": user});
        self.record(idp, kind, None, detail).await;
    }
}

impl FromRequest<Arc<Idp>> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, idp: &Arc<Idp>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Admin(person) = Admin::from_request_parts(&mut parts, idp).await?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let by = By::of(idp, &person, &parts.headers, peer);
        let refused = || forbidden_post(idp.site());
        let body = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|_| refused())?;
        let form = FORM.parse(&body).map_err(|_| refused())?;
        let token = form.get(TOKEN_FIELD);
        let user = person.user.id.as_str();
        idp.csrf
            .check(&parts.headers, token, ADMIN_PURPOSE, user, unix_now())
            .map_err(|_| refused())?;
        Ok(Posted { person, form, by })
    }
}

fn csrf(idp: &Idp, person: &Person) -> String {
    idp.csrf
        .token(ADMIN_PURPOSE, person.user.id.as_str(), unix_now())
}

fn not_found(idp: &Idp, what: &str) -> Response {
    problem(
        idp.site(),
        StatusCode::NOT_FOUND,
        &format!("No such {what}"),
        &format!("There is no {what} here: it may have been deleted. Go back to the list."),
    )
}

/// A store failure as a page, for `?` in handlers.
fn failed(idp: &Idp) -> impl Fn(latchkey_store::StoreError) -> Response + '_ {
    move |e| internal(idp.site(), e)
}

/// A checkbox's value: sent means ticked.
fn ticked(form: &Form, name: &str) -> bool {
    form.get(name).is_some()
}

/// A text field, trimmed.
fn text(form: &Form, name: &str) -> String {
    form.get(name).unwrap_or_default().trim().to_owned()
}

/// Whether a list's form asked to remove (`action=remove`) rather than add.
fn removing(form: &Form) -> bool {
    form.get("action") == Some("remove")
}

/// What the page that asks before a destructive action says.
pub(super) struct Ask {
    pub heading: String,
    pub message: String,
    pub button: &'static str,
}

#[derive(Template)]
#[template(path = "admin/confirm.html")]
struct AskPage<'a> {
    ask: &'a Ask,
    csrf: String,
    cancel: String,
}

impl Ask {
    /// The page, posting to the URL it is shown at; "Cancel" goes to `back`.
    fn render(&self, idp: &Idp, person: &Person, section: Section, back: &str) -> Response {
        let content = AskPage {
            ask: self,
            csrf: csrf(idp, person),
            cancel: idp.site().path(back),
        };
        render_page(
            idp,
            person,
            section,
            StatusCode::OK,
            &self.heading,
            &content,
        )
    }
}
