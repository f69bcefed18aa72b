//! `/admin/people`: list, add, edit (with disabling, which ends the person's sessions), a
//! one-time sign-in link, groups and custom claims. The last enabled administrator cannot be
//! demoted or disabled.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_store::{GroupId, LinkPurpose, StoreError, Subject, User, UserId, unix_now};
use latchkey_web::Form;
use serde_json::json;

use super::claims::{ClaimsPanel, Owner, Refused, apply};
use super::{
    Admin, Ask, Page, Posted, Section, csrf, failed, not_found, removing, render_page, text, ticked,
};
use crate::directory::{NewUser, new_user};
use crate::links::{SIGN_IN_LINK_LIFETIME, create_link};
use crate::pages::see_other;
use crate::session::Person;
use crate::state::Idp;

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .route("/admin", get(get_home))
        .route("/admin/people", get(get_people).post(post_create))
        .route("/admin/people/new", get(get_new))
        .route("/admin/people/{id}", get(get_person).post(post_update))
        .route("/admin/people/{id}/link", post(post_link))
        .route("/admin/people/{id}/groups", post(post_groups))
        .route("/admin/people/{id}/claims", post(post_claims))
        .route(
            "/admin/people/{id}/delete",
            get(get_delete).post(post_delete),
        )
}

async fn get_home(State(idp): State<Arc<Idp>>) -> Response {
    see_other(&idp.site().path("/admin/people"))
}

pub(crate) struct PersonRow {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: String,
    pub admin: bool,
    pub disabled: bool,
    pub passkeys: i64,
}

#[derive(Template)]
#[template(path = "admin/people.html")]
struct People {
    base: String,
    people: Vec<PersonRow>,
}

async fn get_people(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    let users = idp.store.list_users().await.map_err(failed(&idp))?;
    let counts = idp.store.count_passkeys().await.map_err(failed(&idp))?;
    let people = users
        .into_iter()
        .map(|u| PersonRow {
            passkeys: counts.get(&u.id).copied().unwrap_or(0),
            id: u.id.0,
            name: u.display_name,
            username: u.username,
            email: u.email.unwrap_or_default(),
            admin: u.is_admin,
            disabled: u.disabled,
        })
        .collect();
    let content = People {
        base: idp.site().base.clone(),
        people,
    };
    Ok(render_page(
        &idp,
        &person,
        Section::People,
        StatusCode::OK,
        "People",
        &content,
    ))
}

/// The person form as typed.
#[derive(Default)]
pub(crate) struct Draft {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub admin: bool,
    pub email_verified: bool,
    pub disabled: bool,
}

impl Draft {
    fn of(u: &User) -> Draft {
        Draft {
            username: u.username.clone(),
            email: u.email.clone().unwrap_or_default(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            display_name: u.display_name.clone(),
            admin: u.is_admin,
            email_verified: u.email_verified,
            disabled: u.disabled,
        }
    }

    fn from_form(form: &Form) -> Draft {
        Draft {
            username: text(form, "username"),
            email: text(form, "email"),
            first_name: text(form, "first_name"),
            last_name: text(form, "last_name"),
            display_name: text(form, "display_name"),
            admin: ticked(form, "admin"),
            email_verified: ticked(form, "email_verified"),
            disabled: ticked(form, "disabled"),
        }
    }

    /// The draft as a user (a new one when `existing` is `None`), or why not.
    fn user(&self, existing: Option<&User>) -> Result<User, String> {
        for (label, v) in [
            ("first name", &self.first_name),
            ("last name", &self.last_name),
            ("display name", &self.display_name),
        ] {
            if v.chars().count() > 100 || v.chars().any(char::is_control) {
                return Err(format!(
                    "The {label} must be at most 100 characters, without control characters."
                ));
            }
        }
        let made = new_user(NewUser {
            username: self.username.clone(),
            email: (!self.email.is_empty()).then(|| self.email.clone()),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: (!self.display_name.is_empty()).then(|| self.display_name.clone()),
            is_admin: self.admin,
        })
        .map_err(|e| sentence(&e.to_string()))?;
        Ok(match existing {
            None => made,
            Some(old) => User {
                id: old.id.clone(),
                created_at: old.created_at,
                email_verified: self.email_verified && made.email.is_some(),
                disabled: self.disabled,
                ..made
            },
        })
    }
}

/// The directory's rule text as a sentence.
fn sentence(rule: &str) -> String {
    let mut s = rule.to_owned();
    if let Some(first) = s.get(..1) {
        s.replace_range(..1, &first.to_uppercase());
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

#[derive(Template)]
#[template(path = "admin/person_new.html")]
struct NewPerson {
    base: String,
    csrf: String,
    draft: Draft,
    error: Option<String>,
}

async fn get_new(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    Ok(new_page(&idp, &person, Draft::default(), None))
}

fn new_page(idp: &Idp, person: &Person, draft: Draft, error: Option<String>) -> Response {
    let status = match error {
        Some(_) => StatusCode::BAD_REQUEST,
        None => StatusCode::OK,
    };
    let content = NewPerson {
        base: idp.site().base.clone(),
        csrf: csrf(idp, person),
        draft,
        error,
    };
    render_page(
        idp,
        person,
        Section::People,
        status,
        "Add a person",
        &content,
    )
}

const TAKEN: &str = "Someone already has this username or e-mail address.";

async fn post_create(State(idp): State<Arc<Idp>>, Posted { person, form, by }: Posted) -> Page {
    let draft = Draft::from_form(&form);
    let user = match draft.user(None) {
        Ok(u) => u,
        Err(msg) => return Ok(new_page(&idp, &person, draft, Some(msg))),
    };
    match idp.store.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Ok(new_page(&idp, &person, draft, Some(TAKEN.into())));
        }
        Err(e) => return Err(failed(&idp)(e)),
    }
    let detail = json!({"user": user.id, "username": user.username, "admin": user.is_admin});
    by.record(&idp, "USER_CREATED", None, detail).await;
    Ok(see_other(
        &idp.site().path(&format!("/admin/people/{}", user.id)),
    ))
}

pub(crate) struct GroupChoice {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
}

#[derive(Template)]
#[template(path = "admin/person.html")]
struct EditPerson {
    base: String,
    csrf: String,
    id: String,
    name: String,
    draft: Draft,
    itself: bool,
    passkeys: usize,
    error: Option<String>,
    notice: Option<&'static str>,
    groups: Vec<GroupChoice>,
    other_groups: Vec<GroupChoice>,
    claims: ClaimsPanel,
}

/// How the edit page is shown: as stored, saved, or with a refusal and what was typed.
#[derive(Default)]
struct Outcome {
    draft: Option<Draft>,
    error: Option<String>,
    notice: Option<&'static str>,
    claims: Option<Refused>,
}

impl Outcome {
    fn refused(draft: Option<Draft>, error: String) -> Outcome {
        Outcome {
            draft,
            error: Some(error),
            ..Outcome::default()
        }
    }
}

/// Back to a panel of the person's page, after a form that worked.
fn back_to(idp: &Idp, user: &User, panel: &str) -> Response {
    let to = format!("/admin/people/{}#{panel}", user.id);
    see_other(&idp.site().path(&to))
}

async fn find(idp: &Idp, id: &str) -> Result<User, Response> {
    match idp.store.find_user(&UserId::from(id)).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(not_found(idp, "person")),
        Err(e) => Err(failed(idp)(e)),
    }
}

async fn edit_page(idp: &Idp, person: &Person, user: &User, out: Outcome) -> Page {
    let groups = idp
        .store
        .list_user_groups(&user.id)
        .await
        .map_err(failed(idp))?;
    let all = idp.store.list_groups().await.map_err(failed(idp))?;
    let passkeys = idp
        .store
        .list_passkeys(&user.id)
        .await
        .map_err(failed(idp))?
        .len();
    let action = idp
        .site()
        .path(&format!("/admin/people/{}/claims", user.id));
    let claims = ClaimsPanel::load(&idp.store, &Owner::User(&user.id), action, out.claims)
        .await
        .map_err(failed(idp))?;
    let choice = |g: &latchkey_store::Group| GroupChoice {
        id: g.id.0.clone(),
        name: g.name.clone(),
        friendly_name: g.friendly_name.clone(),
    };
    let status = match (&out.error, &claims.error) {
        (None, None) => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    let content = EditPerson {
        base: idp.site().base.clone(),
        csrf: csrf(idp, person),
        id: user.id.0.clone(),
        name: user.display_name.clone(),
        draft: out.draft.unwrap_or_else(|| Draft::of(user)),
        itself: user.id == person.user.id,
        passkeys,
        error: out.error,
        notice: out.notice,
        other_groups: all
            .iter()
            .filter(|g| !groups.iter().any(|m| m.id == g.id))
            .map(choice)
            .collect(),
        groups: groups.iter().map(choice).collect(),
        claims,
    };
    let title = content.name.clone();
    Ok(render_page(
        idp,
        person,
        Section::People,
        status,
        &title,
        &content,
    ))
}

async fn get_person(
    State(idp): State<Arc<Idp>>,
    Admin(person): Admin,
    Path(id): Path<String>,
) -> Page {
    let user = find(&idp, &id).await?;
    edit_page(&idp, &person, &user, Outcome::default()).await
}

/// Whether taking `before`'s administration away (or disabling them) would leave nobody
/// to administer Latchkey.
async fn last_admin(idp: &Idp, before: &User, after: &User) -> Result<bool, StoreError> {
    let loses = before.is_admin && !before.disabled && (!after.is_admin || after.disabled);
    Ok(loses && idp.store.count_admins().await? <= 1)
}

async fn post_update(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, form, by }: Posted,
) -> Page {
    let before = find(&idp, &id).await?;
    let draft = Draft::from_form(&form);
    let mut after = match draft.user(Some(&before)) {
        Ok(u) => u,
        Err(msg) => {
            return edit_page(&idp, &person, &before, Outcome::refused(Some(draft), msg)).await;
        }
    };
    if last_admin(&idp, &before, &after)
        .await
        .map_err(failed(&idp))?
    {
        let msg = format!(
            "{} is the only enabled administrator: make someone else an administrator first.",
            before.display_name
        );
        return edit_page(&idp, &person, &before, Outcome::refused(Some(draft), msg)).await;
    }
    after.updated_at = unix_now();
    match idp.store.update_user(&after).await {
        Ok(true) => {}
        Ok(false) => return Err(not_found(&idp, "person")),
        Err(StoreError::Conflict) => {
            let out = Outcome::refused(Some(draft), TAKEN.into());
            return edit_page(&idp, &person, &before, out).await;
        }
        Err(e) => return Err(failed(&idp)(e)),
    }
    if after.disabled && !before.disabled {
        let subject = Subject(after.id.0.clone());
        idp.store
            .delete_subject_sessions(idp.issuer_id(), &subject)
            .await
            .map_err(failed(&idp))?;
        idp.logged_out(&subject, None);
    }
    let detail = json!({
        "user": after.id, "username": after.username, "admin": after.is_admin,
        "disabled": after.disabled, "email_verified": after.email_verified,
    });
    by.record(&idp, "USER_UPDATED", None, detail).await;
    if after.id == person.user.id && !after.is_admin {
        return Ok(see_other(&idp.site().path("/account")));
    }
    // The administrator may have changed themself: the shell shows the new name.
    let person = Person {
        user: if after.id == person.user.id {
            after.clone()
        } else {
            person.user
        },
        session: person.session,
    };
    let out = Outcome {
        notice: Some("Saved."),
        ..Outcome::default()
    };
    edit_page(&idp, &person, &after, out).await
}

#[derive(Template)]
#[template(path = "admin/person_link.html")]
struct LinkShown {
    base: String,
    id: String,
    name: String,
    link: String,
    minutes: i64,
    copy: &'static str,
}

async fn post_link(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, by, .. }: Posted,
) -> Page {
    let user = find(&idp, &id).await?;
    if user.disabled {
        let msg = format!(
            "{} is disabled: enable the account before making a sign-in link.",
            user.display_name
        );
        return edit_page(&idp, &person, &user, Outcome::refused(None, msg)).await;
    }
    let link = create_link(
        &idp.store,
        idp.issuer_id(),
        idp.issuer(),
        LinkPurpose::SignIn,
        Some(&user.id),
        SIGN_IN_LINK_LIFETIME,
    )
    .await
    .map_err(failed(&idp))?;
    let detail = json!({"user": user.id, "username": user.username});
    by.record(&idp, "ONE_TIME_ACCESS_TOKEN_CREATED", None, detail)
        .await;
    let content = LinkShown {
        base: idp.site().base.clone(),
        id: user.id.0.clone(),
        name: user.display_name.clone(),
        link,
        minutes: SIGN_IN_LINK_LIFETIME / 60,
        copy: latchkey_web::icons::COPY,
    };
    Ok(render_page(
        &idp,
        &person,
        Section::People,
        StatusCode::OK,
        "Sign-in link",
        &content,
    ))
}

/// Adds the person to a group, or (`action=remove`) takes them out.
async fn post_groups(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { form, by, .. }: Posted,
) -> Page {
    let user = find(&idp, &id).await?;
    let group = GroupId::from(text(&form, "group"));
    let add = !removing(&form);
    let done = if add {
        idp.store.create_group_member(&group, &user.id).await
    } else {
        idp.store
            .delete_group_member(&group, &user.id)
            .await
            .map(|_| ())
    };
    match done {
        Ok(()) => {
            by.membership(&idp, &group, &user.id, add).await;
            Ok(back_to(&idp, &user, "groups-h"))
        }
        Err(StoreError::NotFound) => Err(not_found(&idp, "group")),
        Err(e) => Err(failed(&idp)(e)),
    }
}

async fn post_claims(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, form, by }: Posted,
) -> Page {
    let user = find(&idp, &id).await?;
    match apply(&idp, &by, &Owner::User(&user.id), &form).await? {
        None => Ok(back_to(&idp, &user, "claims-h")),
        Some(refused) => {
            let out = Outcome {
                claims: Some(refused),
                ..Outcome::default()
            };
            edit_page(&idp, &person, &user, out).await
        }
    }
}

/// Administrators delete others, never themselves (another administrator can).
fn own_account(idp: &Idp, person: &Person, user: &User) -> Option<Response> {
    if user.id != person.user.id {
        return None;
    }
    Some(crate::pages::problem(
        idp.site(),
        StatusCode::BAD_REQUEST,
        "You cannot delete your own account",
        "Ask another administrator to delete it, or disable it instead.",
    ))
}

async fn get_delete(
    State(idp): State<Arc<Idp>>,
    Admin(person): Admin,
    Path(id): Path<String>,
) -> Page {
    let user = find(&idp, &id).await?;
    if let Some(refused) = own_account(&idp, &person, &user) {
        return Err(refused);
    }
    let name = &user.display_name;
    let ask = Ask {
        heading: format!("Delete {name}?"),
        message: format!(
            "{name} is signed out everywhere and can no longer sign in; their passkeys, groups \
             and custom claims are deleted with the account. Applications keep what they \
             already received. To keep the account but stop its use, disable it instead."
        ),
        button: "Delete person",
    };
    let back = format!("/admin/people/{}", user.id);
    Ok(ask.render(&idp, &person, Section::People, &back))
}

async fn post_delete(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, by, .. }: Posted,
) -> Page {
    let user = find(&idp, &id).await?;
    if let Some(refused) = own_account(&idp, &person, &user) {
        return Err(refused);
    }
    let subject = Subject(user.id.0.clone());
    idp.store
        .delete_subject_sessions(idp.issuer_id(), &subject)
        .await
        .map_err(failed(&idp))?;
    idp.logged_out(&subject, None);
    if !idp
        .store
        .delete_user(&user.id)
        .await
        .map_err(failed(&idp))?
    {
        return Err(not_found(&idp, "person"));
    }
    let detail = json!({"user": user.id, "username": user.username});
    by.record(&idp, "USER_DELETED", None, detail).await;
    Ok(see_other(&idp.site().path("/admin/people")))
}
