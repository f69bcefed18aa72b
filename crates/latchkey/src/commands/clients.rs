//! `latchkey clients …`: register, list, show, delete clients and rotate their secrets. Each
//! command prints JSON.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use latchkey_oidc::clients::{NewClient, create_client, rotate_secret};
use latchkey_store::{Client, ClientId, Store, unix_now};

use crate::role::Role;
use serde_json::{Value, json};

use super::{jose_alg, open_store, roles};
use crate::cli::ClientsCommand;
use crate::config::Config;

fn client_json(c: &Client) -> Value {
    json!({
        "role": c.issuer.as_str(),
        "client_id": c.id.as_str(),
        "name": c.name,
        "public": c.public,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "id_token_signed_response_alg": c.id_token_alg,
        "skip_consent": c.metadata.get(latchkey_idp::SKIP_CONSENT),
        "allowed_groups": c.metadata.get(latchkey_idp::ALLOWED_GROUPS),
        "refresh_reuse_leeway": c.metadata.get(latchkey_oidc::clients::REFRESH_REUSE_LEEWAY),
        "created_at": c.created_at,
    })
}

/// Finds a client by id in whichever registry has it.
async fn find_any(store: &Store, id: &str) -> Result<Client> {
    for role in [Role::Idp, Role::Tsidp] {
        if let Some(c) = store
            .find_client(&role.issuer_id(), &ClientId::from(id))
            .await?
        {
            return Ok(c);
        }
    }
    bail!("no client with id {id}")
}

pub async fn clients(config: &Config, cmd: &ClientsCommand) -> Result<()> {
    let store = Arc::new(open_store(config).await?);
    let out = match cmd {
        ClientsCommand::Create {
            role,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            alg,
            skip_consent,
            allowed_groups,
            launch_url,
            refresh_reuse_leeway,
            session_duration,
            backchannel_logout_uri,
        } => {
            let mut metadata = serde_json::Map::new();
            if *skip_consent {
                metadata.insert(latchkey_idp::SKIP_CONSENT.into(), json!(true));
            }
            if let Some(secs) = refresh_reuse_leeway.filter(|s| *s > 0) {
                metadata.insert(
                    latchkey_oidc::clients::REFRESH_REUSE_LEEWAY.into(),
                    json!(secs),
                );
            }
            if let Some(uri) = backchannel_logout_uri {
                if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                    bail!("--backchannel-logout-uri must be an http(s) URL");
                }
                metadata.insert(
                    latchkey_oidc::backchannel::BACKCHANNEL_LOGOUT_URI.into(),
                    json!(uri),
                );
            }
            if let Some(secs) = session_duration {
                metadata.insert(latchkey_idp::SESSION_DURATION.into(), json!(secs));
            }
            if !allowed_groups.is_empty() {
                metadata.insert(latchkey_idp::ALLOWED_GROUPS.into(), json!(allowed_groups));
            }
            if let Some(url) = launch_url {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    bail!("--launch-url must be an http(s) URL");
                }
                metadata.insert(latchkey_idp::LAUNCH_URL.into(), json!(url));
            }
            let alg = jose_alg(*alg)?;
            let created = create_client(
                &store,
                &role.issuer_id(),
                NewClient {
                    name: name.clone(),
                    redirect_uris: redirect_uris.clone(),
                    post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                    public: *public,
                    id_token_alg: alg,
                    metadata: Value::Object(metadata),
                },
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
            let mut v = json!({"client_id": created.client.id.as_str()});
            if let Some(secret) = created.secret {
                v["client_secret"] = json!(secret);
            }
            v.to_string()
        }
        ClientsCommand::List { role } => {
            let mut lines = Vec::new();
            for role in roles(config, *role) {
                for c in store.list_clients(&role.issuer_id()).await? {
                    lines.push(client_json(&c).to_string());
                }
            }
            lines.join("\n")
        }
        ClientsCommand::Show { id } => {
            serde_json::to_string_pretty(&client_json(&find_any(&store, id).await?))?
        }
        ClientsCommand::Delete { id } => {
            let c = find_any(&store, id).await?;
            store.delete_client(&c.issuer, &c.id, unix_now()).await?;
            json!({"deleted": c.id.as_str(), "role": c.issuer.as_str()}).to_string()
        }
        ClientsCommand::RotateSecret { id } => {
            let c = find_any(&store, id).await?;
            let secret = rotate_secret(&store, &c.issuer, &c.id)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            json!({"client_id": c.id.as_str(), "client_secret": secret}).to_string()
        }
    };
    if !out.is_empty() {
        println!("{out}");
    }
    store.close().await;
    Ok(())
}
