//! `/admin/groups`: list, create, members (added by username or e-mail), custom claims,
//! delete after a page that asks.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_store::{Group, GroupId, StoreError, UserId};
use serde_json::json;

use super::claims::{ClaimsPanel, Owner, Refused, apply};
use super::{
    Admin, Ask, Page, Posted, Section, csrf, failed, not_found, removing, render_page, text,
};
use crate::directory::new_group;
use crate::pages::see_other;
use crate::session::Person;
use crate::state::Idp;

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .route("/admin/groups", get(get_groups).post(post_create))
        .route("/admin/groups/new", get(get_new))
        .route("/admin/groups/{id}", get(get_group).post(post_rename))
        .route("/admin/groups/{id}/members", post(post_members))
        .route("/admin/groups/{id}/claims", post(post_claims))
        .route(
            "/admin/groups/{id}/delete",
            get(get_delete).post(post_delete),
        )
}

pub(crate) struct GroupRow {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
    pub members: i64,
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct Groups {
    base: String,
    groups: Vec<GroupRow>,
}

async fn get_groups(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    let groups = idp.store.list_groups().await.map_err(failed(&idp))?;
    let counts = idp
        .store
        .count_group_members()
        .await
        .map_err(failed(&idp))?;
    let content = Groups {
        base: idp.site().base.clone(),
        groups: groups
            .into_iter()
            .map(|g| GroupRow {
                members: counts.get(&g.id).copied().unwrap_or(0),
                id: g.id.0,
                name: g.name,
                friendly_name: g.friendly_name,
            })
            .collect(),
    };
    Ok(render_page(
        &idp,
        &person,
        Section::Groups,
        StatusCode::OK,
        "Groups",
        &content,
    ))
}

#[derive(Template)]
#[template(path = "admin/group_new.html")]
struct NewGroup {
    base: String,
    csrf: String,
    name: String,
    friendly_name: String,
    error: Option<String>,
}

impl NewGroup {
    fn render(self, idp: &Idp, person: &Person) -> Response {
        let status = match self.error {
            Some(_) => StatusCode::BAD_REQUEST,
            None => StatusCode::OK,
        };
        render_page(
            idp,
            person,
            Section::Groups,
            status,
            "Create a group",
            &self,
        )
    }
}

async fn get_new(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    let content = NewGroup {
        base: idp.site().base.clone(),
        csrf: csrf(&idp, &person),
        name: String::new(),
        friendly_name: String::new(),
        error: None,
    };
    Ok(content.render(&idp, &person))
}

async fn post_create(State(idp): State<Arc<Idp>>, Posted { person, form, by }: Posted) -> Page {
    let name = text(&form, "name");
    let friendly_name = text(&form, "friendly_name");
    let friendly = (!friendly_name.is_empty()).then_some(friendly_name.as_str());
    let made = if friendly_name.chars().count() > 100 || friendly_name.chars().any(char::is_control)
    {
        Err("The display name must be at most 100 characters, without control characters.".into())
    } else {
        new_group(&name, friendly).map_err(|e| format!("{e}."))
    };
    let error = match made {
        Ok(group) => match idp.store.create_group(&group).await {
            Ok(()) => {
                let detail = json!({"group": group.id, "name": group.name});
                by.record(&idp, "GROUP_CREATED", None, detail).await;
                let to = format!("/admin/groups/{}", group.id);
                return Ok(see_other(&idp.site().path(&to)));
            }
            Err(StoreError::Conflict) => format!("There is a group named {name} already."),
            Err(e) => return Err(failed(&idp)(e)),
        },
        Err(e) => e,
    };
    let content = NewGroup {
        base: idp.site().base.clone(),
        csrf: csrf(&idp, &person),
        name,
        friendly_name,
        error: Some(error),
    };
    Ok(content.render(&idp, &person))
}

pub(crate) struct MemberRow {
    pub id: String,
    pub name: String,
    pub username: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    base: String,
    csrf: String,
    id: String,
    name: String,
    friendly_name: String,
    members: Vec<MemberRow>,
    /// The name form: as stored, or as typed when refused (with why).
    edit_name: String,
    edit_friendly: String,
    rename_error: Option<String>,
    member_error: Option<String>,
    member: String,
    claims: ClaimsPanel,
}

async fn find(idp: &Idp, id: &str) -> Result<Group, Response> {
    match idp.store.find_group(&GroupId::from(id)).await {
        Ok(Some(g)) => Ok(g),
        Ok(None) => Err(not_found(idp, "group")),
        Err(e) => Err(failed(idp)(e)),
    }
}

/// Back to a panel of the group's page, after a form that worked.
fn back_to(idp: &Idp, group: &Group, panel: &str) -> Response {
    let to = format!("/admin/groups/{}#{panel}", group.id);
    see_other(&idp.site().path(&to))
}

/// What the group page shows after a refused form: the panel's sentence, what was typed.
enum Refusal {
    None,
    /// Why, the name and display name typed.
    Name(String, String, String),
    Member(String, String),
    Claim(Refused),
}

async fn group_page(idp: &Idp, person: &Person, group: &Group, refusal: Refusal) -> Page {
    let members = idp
        .store
        .list_group_members(&group.id)
        .await
        .map_err(failed(idp))?;
    let mut edit = (None, group.name.clone(), group.friendly_name.clone());
    let (member_error, member, refused) = match refusal {
        Refusal::None => (None, String::new(), None),
        Refusal::Name(e, name, friendly) => {
            edit = (Some(e), name, friendly);
            (None, String::new(), None)
        }
        Refusal::Member(e, typed) => (Some(e), typed, None),
        Refusal::Claim(r) => (None, String::new(), Some(r)),
    };
    let (rename_error, edit_name, edit_friendly) = edit;
    let action = idp
        .site()
        .path(&format!("/admin/groups/{}/claims", group.id));
    let claims = ClaimsPanel::load(&idp.store, &Owner::Group(&group.id), action, refused)
        .await
        .map_err(failed(idp))?;
    let status = match (&member_error, &claims.error, &rename_error) {
        (None, None, None) => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    let content = GroupPage {
        base: idp.site().base.clone(),
        csrf: csrf(idp, person),
        id: group.id.0.clone(),
        name: group.name.clone(),
        friendly_name: group.friendly_name.clone(),
        members: members
            .into_iter()
            .map(|u| MemberRow {
                id: u.id.0,
                name: u.display_name,
                username: u.username,
                email: u.email.unwrap_or_default(),
            })
            .collect(),
        edit_name,
        edit_friendly,
        rename_error,
        member_error,
        member,
        claims,
    };
    Ok(render_page(
        idp,
        person,
        Section::Groups,
        status,
        &group.friendly_name,
        &content,
    ))
}

async fn get_group(
    State(idp): State<Arc<Idp>>,
    Admin(person): Admin,
    Path(id): Path<String>,
) -> Page {
    let group = find(&idp, &id).await?;
    group_page(&idp, &person, &group, Refusal::None).await
}

/// Renames a group. Its name is what clients' allowed groups name, so they follow it: a
/// rename neither locks people out of an application nor lets others in.
async fn post_rename(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, form, by }: Posted,
) -> Page {
    let mut group = find(&idp, &id).await?;
    let name = text(&form, "name");
    let friendly_name = text(&form, "friendly_name");
    let friendly = (!friendly_name.is_empty()).then_some(friendly_name.as_str());
    let checked = if friendly_name.chars().count() > 100
        || friendly_name.chars().any(char::is_control)
    {
        Err("The display name must be at most 100 characters, without control characters.".into())
    } else {
        new_group(&name, friendly).map_err(|e| format!("{e}."))
    };
    let renamed = match checked {
        Ok(r) => r,
        Err(e) => {
            let refusal = Refusal::Name(e, name, friendly_name);
            return group_page(&idp, &person, &group, refusal).await;
        }
    };
    let old = std::mem::replace(&mut group.name, renamed.name);
    group.friendly_name = renamed.friendly_name;
    group.updated_at = renamed.updated_at;
    match idp.store.update_group(&group).await {
        Ok(true) => {}
        Ok(false) => return Err(not_found(&idp, "group")),
        Err(StoreError::Conflict) => {
            let e = format!("There is a group named {} already.", group.name);
            let refusal = Refusal::Name(e, group.name.clone(), group.friendly_name.clone());
            group.name = old;
            return group_page(&idp, &person, &group, refusal).await;
        }
        Err(e) => return Err(failed(&idp)(e)),
    }
    let clients = follow_rename(&idp, &old, &group.name)
        .await
        .map_err(failed(&idp))?;
    let detail = json!({"group": group.id, "from": old, "name": group.name, "friendly_name": group.friendly_name, "clients": clients});
    by.record(&idp, "GROUP_UPDATED", None, detail).await;
    Ok(back_to(&idp, &group, "name-h"))
}

/// Renames `old` to `new` in every client's allowed groups; the clients changed.
async fn follow_rename(idp: &Idp, old: &str, new: &str) -> Result<Vec<String>, StoreError> {
    let mut changed = Vec::new();
    if old == new {
        return Ok(changed);
    }
    for mut client in idp.store.list_clients(idp.issuer_id()).await? {
        let Some(allowed) = client
            .metadata
            .get_mut(crate::client_policy::ALLOWED_GROUPS)
            .and_then(serde_json::Value::as_array_mut)
        else {
            continue;
        };
        let mut hit = false;
        for g in allowed.iter_mut() {
            if g.as_str().is_some_and(|g| g.eq_ignore_ascii_case(old)) {
                *g = json!(new);
                hit = true;
            }
        }
        if hit {
            client.updated_at = latchkey_store::unix_now();
            idp.store.update_client(&client).await?;
            changed.push(client.id.0.clone());
        }
    }
    Ok(changed)
}

/// Adds a member by username or e-mail address, or (`action=remove`) removes one by id.
async fn post_members(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, form, by }: Posted,
) -> Page {
    let group = find(&idp, &id).await?;
    if removing(&form) {
        let user = UserId::from(text(&form, "user"));
        idp.store
            .delete_group_member(&group.id, &user)
            .await
            .map_err(failed(&idp))?;
        by.membership(&idp, &group.id, &user, false).await;
        return Ok(back_to(&idp, &group, "members-h"));
    }
    let who = text(&form, "member");
    let by_email = match who.contains('@') {
        true => idp.store.find_user_by_email(&who).await,
        false => Ok(None),
    };
    let found = match by_email {
        Ok(None) => idp.store.find_user_by_username(&who).await,
        other => other,
    };
    let Some(user) = found.map_err(failed(&idp))? else {
        let e = format!("Nobody has the username or e-mail address “{who}”.");
        return group_page(&idp, &person, &group, Refusal::Member(e, who)).await;
    };
    idp.store
        .create_group_member(&group.id, &user.id)
        .await
        .map_err(failed(&idp))?;
    by.membership(&idp, &group.id, &user.id, true).await;
    Ok(back_to(&idp, &group, "members-h"))
}

async fn post_claims(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, form, by }: Posted,
) -> Page {
    let group = find(&idp, &id).await?;
    match apply(&idp, &by, &Owner::Group(&group.id), &form).await? {
        None => Ok(back_to(&idp, &group, "claims-h")),
        Some(r) => group_page(&idp, &person, &group, Refusal::Claim(r)).await,
    }
}

async fn get_delete(
    State(idp): State<Arc<Idp>>,
    Admin(person): Admin,
    Path(id): Path<String>,
) -> Page {
    let group = find(&idp, &id).await?;
    let members = idp
        .store
        .list_group_members(&group.id)
        .await
        .map_err(failed(&idp))?
        .len();
    let members = match members {
        0 => "The group has no members.".to_owned(),
        1 => "Its one member will leave it (their account stays).".to_owned(),
        n => format!("Its {n} members will leave it (their accounts stay)."),
    };
    let ask = Ask {
        heading: format!("Delete “{}”?", group.friendly_name),
        message: format!(
            "{members} Its custom claims go with it, and applications that admit only this \
             group will refuse the people who were in it."
        ),
        button: "Delete group",
    };
    let back = format!("/admin/groups/{}", group.id);
    Ok(ask.render(&idp, &person, Section::Groups, &back))
}

async fn post_delete(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { by, .. }: Posted,
) -> Page {
    let deleted = idp
        .store
        .delete_group(&GroupId::from(id.as_str()))
        .await
        .map_err(failed(&idp))?;
    if !deleted {
        return Err(not_found(&idp, "group"));
    }
    by.record(&idp, "GROUP_DELETED", None, json!({"group": id}))
        .await;
    Ok(see_other(&idp.site().path("/admin/groups")))
}
