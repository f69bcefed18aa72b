//! `latchkey users …`: the directory's people from the command line. Each command prints one
//! JSON line (or one per person for `list`).

use anyhow::{Result, anyhow, bail};
use latchkey_idp::directory::{NewUser, check_claim_name, new_user, parse_claim_value};
use latchkey_store::{LinkPurpose, Store, User, UserId, unix_now};
use serde_json::{Value, json};

use super::{open_store, taken};
use crate::cli::UsersCommand;
use crate::config::Config;
use crate::role::Role;

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.as_str(),
        "username": u.username,
        "email": u.email,
        "email_verified": u.email_verified,
        "display_name": u.display_name,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "admin": u.is_admin,
        "disabled": u.disabled,
    })
}

/// By username or e-mail address (refusing a key that names two people), then by id.
pub(super) async fn find_user(store: &Store, key: &str) -> Result<User> {
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

pub async fn users(config: &Config, cmd: &UsersCommand) -> Result<()> {
    let store = open_store(config).await?;
    let out = match cmd {
        UsersCommand::LoginLink { user, ttl } => login_link(config, &store, user, *ttl).await,
        _ => users_on(&store, cmd).await,
    };
    store.close().await;
    println!("{}", out?);
    Ok(())
}

async fn login_link(config: &Config, store: &Store, user: &str, ttl: u64) -> Result<String> {
    let u = find_user(store, user).await?;
    if u.disabled {
        bail!("{} is disabled: enable the account first", u.username);
    }
    let idp = config.role(Role::Idp);
    let url = latchkey_idp::links::create_link(
        store,
        &Role::Idp.issuer_id(),
        &idp.public_url,
        LinkPurpose::SignIn,
        Some(&u.id),
        ttl as i64,
    )
    .await?;
    Ok(json!({"user": u.username, "url": url, "expires_in": ttl}).to_string())
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
            email_verified,
        } => {
            let mut user = new_user(NewUser {
                username: username.clone(),
                email: email.clone(),
                first_name: first_name.clone(),
                last_name: last_name.clone(),
                display_name: display_name.clone(),
                is_admin: *admin,
            })?;
            user.email_verified = *email_verified && user.email.is_some();
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
        UsersCommand::LoginLink { .. } => bail!("a sign-in link needs the idp's configuration"),
        UsersCommand::UnsetClaim { user, name } => {
            let u = find_user(store, user).await?;
            if !store.delete_user_claim(&u.id, name).await? {
                bail!("{} has no claim {name:?}", u.username);
            }
            json!({"user": u.username, "unset": name}).to_string()
        }
    })
}
