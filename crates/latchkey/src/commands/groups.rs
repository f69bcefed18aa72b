//! `latchkey groups …`: the directory's groups from the command line. Each command prints one
//! JSON line (or one per group for `list`).

use anyhow::{Context, Result, anyhow, bail};
use latchkey_idp::directory::{check_claim_name, new_group, parse_claim_value};
use latchkey_store::{Group, Store};
use serde_json::{Value, json};

use super::users::find_user;
use super::{open_store, taken};
use crate::cli::GroupsCommand;
use crate::config::Config;

fn group_json(g: &Group) -> Value {
    json!({"id": g.id.as_str(), "name": g.name, "friendly_name": g.friendly_name})
}

async fn find_group(store: &Store, name: &str) -> Result<Group> {
    store
        .find_group_by_name(name)
        .await?
        .ok_or_else(|| anyhow!("no group {name:?}"))
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
