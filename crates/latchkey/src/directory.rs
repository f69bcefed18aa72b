//! `latchkey users …` and `latchkey groups …`: the directory from the command line. Each
//! command prints one JSON line (or one per entry for `list`).

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use latchkey_idp::directory::{NewUser, check_claim_name, new_group, new_user, parse_claim_value};
use latchkey_store::{Group, Store, StoreError, User, UserId, unix_now};
use serde_json::{Value, json};

use crate::commands::open_store;
use crate::config::Config;

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum UsersCommand {
    /// Add a person to the directory
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// [default: first and last name, or the username]
        #[arg(long)]
        display_name: Option<String>,
        /// An administrator of the idp role
        #[arg(long)]
        admin: bool,
    },
    /// List everyone
    List,
    /// Show one person with their groups and custom claims
    Show {
        /// Username, e-mail address or id
        user: String,
    },
    /// Remove a person (with their memberships and claims)
    Remove { user: String },
    /// Stop a person's directory entry from counting (no sign-in, no enrichment)
    Disable { user: String },
    /// Undo `disable`
    Enable { user: String },
    /// Set a custom claim: VALUE is JSON when it parses as JSON, else text
    SetClaim {
        user: String,
        name: String,
        value: String,
    },
    /// Remove a custom claim
    UnsetClaim { user: String, name: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum GroupsCommand {
    /// Create a group (its name is what the `groups` claim carries)
    Add {
        name: String,
        #[arg(long)]
        friendly_name: Option<String>,
    },
    /// List every group
    List,
    /// Delete a group (with its memberships and claims)
    Remove { name: String },
    /// Put a person in a group
    AddMember { group: String, user: String },
    /// Take a person out of a group
    RemoveMember { group: String, user: String },
    /// Set a custom claim given to every member: VALUE is JSON when it parses, else text
    SetClaim {
        group: String,
        name: String,
        value: String,
    },
    /// Remove a group's custom claim
    UnsetClaim { group: String, name: String },
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.as_str(),
        "username": u.username,
        "email": u.email,
        "display_name": u.display_name,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "admin": u.is_admin,
        "disabled": u.disabled,
    })
}

fn group_json(g: &Group) -> Value {
    json!({"id": g.id.as_str(), "name": g.name, "friendly_name": g.friendly_name})
}

/// By username or e-mail address (refusing a key that names two people), then by id.
async fn find_user(store: &Store, key: &str) -> Result<User> {
    let by_name = store.find_user_by_username(key).await?;
    let by_email = match key.contains('@') {
        true => store.find_user_by_email(key).await?,
        false => None,
    };
    match (by_name, by_email) {
        (Some(a), Some(b)) if a.id != b.id => bail!(
            "{key:?} is the username of {} and the e-mail address of {}: give the id",
            a.id.as_str(),
            b.id.as_str()
        ),
        (Some(u), _) | (None, Some(u)) => return Ok(u),
        (None, None) => {}
    }
    store
        .find_user(&UserId::from(key))
        .await?
        .ok_or_else(|| anyhow!("no user {key:?} (give a username, e-mail address or id)"))
}

async fn find_group(store: &Store, name: &str) -> Result<Group> {
    store
        .find_group_by_name(name)
        .await?
        .ok_or_else(|| anyhow!("no group {name:?}"))
}

fn taken(e: StoreError, what: &str) -> anyhow::Error {
    match e {
        StoreError::Conflict => anyhow!("{what} is already taken"),
        other => anyhow!(other),
    }
}

pub async fn users(config: &Config, cmd: &UsersCommand) -> Result<()> {
    let store = open_store(config).await?;
    let out = users_on(&store, cmd).await;
    store.close().await;
    println!("{}", out?);
    Ok(())
}

async fn users_on(store: &Store, cmd: &UsersCommand) -> Result<String> {
    Ok(match cmd {
        UsersCommand::Add {
            username,
            email,
            first_name,
            last_name,
            display_name,
            admin,
        } => {
            let user = new_user(NewUser {
                username: username.clone(),
                email: email.clone(),
                first_name: first_name.clone(),
                last_name: last_name.clone(),
                display_name: display_name.clone(),
                is_admin: *admin,
            })?;
            store
                .create_user(&user)
                .await
                .map_err(|e| taken(e, "that username or e-mail address"))?;
            user_json(&user).to_string()
        }
        UsersCommand::List => {
            let users = store.list_users().await?;
            let lines: Vec<String> = users.iter().map(|u| user_json(u).to_string()).collect();
            lines.join("\n")
        }
        UsersCommand::Show { user } => {
            let u = find_user(store, user).await?;
            let d = store.find_directory_claims(&u.id).await?;
            let mut v = user_json(&u);
            v["groups"] = json!(d.groups);
            v["claims"] = Value::Object(d.claims);
            v.to_string()
        }
        UsersCommand::Remove { user } => {
            let u = find_user(store, user).await?;
            store.delete_user(&u.id).await?;
            json!({"removed": u.id.as_str(), "username": u.username}).to_string()
        }
        UsersCommand::Disable { user } | UsersCommand::Enable { user } => {
            let mut u = find_user(store, user).await?;
            u.disabled = matches!(cmd, UsersCommand::Disable { .. });
            u.updated_at = unix_now();
            store.update_user(&u).await?;
            user_json(&u).to_string()
        }
        UsersCommand::SetClaim { user, name, value } => {
            check_claim_name(name)?;
            let u = find_user(store, user).await?;
            let value = parse_claim_value(value);
            store.update_user_claim(&u.id, name, &value).await?;
            json!({"user": u.username, "claim": name, "value": value}).to_string()
        }
        UsersCommand::UnsetClaim { user, name } => {
            let u = find_user(store, user).await?;
            if !store.delete_user_claim(&u.id, name).await? {
                bail!("{} has no claim {name:?}", u.username);
            }
            json!({"user": u.username, "unset": name}).to_string()
        }
    })
}

pub async fn groups(config: &Config, cmd: &GroupsCommand) -> Result<()> {
    let store = open_store(config).await?;
    let out = groups_on(&store, cmd).await;
    store.close().await;
    println!("{}", out?);
    Ok(())
}

async fn groups_on(store: &Store, cmd: &GroupsCommand) -> Result<String> {
    Ok(match cmd {
        GroupsCommand::Add {
            name,
            friendly_name,
        } => {
            let g = new_group(name, friendly_name.as_deref())?;
            store
                .create_group(&g)
                .await
                .map_err(|e| taken(e, "that group name"))?;
            group_json(&g).to_string()
        }
        GroupsCommand::List => {
            let groups = store.list_groups().await?;
            let lines: Vec<String> = groups.iter().map(|g| group_json(g).to_string()).collect();
            lines.join("\n")
        }
        GroupsCommand::Remove { name } => {
            let g = find_group(store, name).await?;
            store.delete_group(&g.id).await?;
            json!({"removed": g.name}).to_string()
        }
        GroupsCommand::AddMember { group, user } => {
            let g = find_group(store, group).await?;
            let u = find_user(store, user).await?;
            store
                .create_group_member(&g.id, &u.id)
                .await
                .context("adding the member")?;
            json!({"group": g.name, "added": u.username}).to_string()
        }
        GroupsCommand::RemoveMember { group, user } => {
            let g = find_group(store, group).await?;
            let u = find_user(store, user).await?;
            if !store.delete_group_member(&g.id, &u.id).await? {
                bail!("{} is not in {}", u.username, g.name);
            }
            json!({"group": g.name, "removed": u.username}).to_string()
        }
        GroupsCommand::SetClaim { group, name, value } => {
            check_claim_name(name)?;
            let g = find_group(store, group).await?;
            let value = parse_claim_value(value);
            store.update_group_claim(&g.id, name, &value).await?;
            json!({"group": g.name, "claim": name, "value": value}).to_string()
        }
        GroupsCommand::UnsetClaim { group, name } => {
            let g = find_group(store, group).await?;
            if !store.delete_group_claim(&g.id, name).await? {
                bail!("{} has no claim {name:?}", g.name);
            }
            json!({"group": g.name, "unset": name}).to_string()
        }
    })
}
