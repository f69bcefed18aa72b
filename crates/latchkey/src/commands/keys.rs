//! `latchkey keys …`: rotate and list the issuers' signing keys.

use anyhow::Result;
use latchkey_store::unix_now;
use serde_json::json;

use super::{jose_alg, open_store, roles};
use crate::cli::KeysCommand;
use crate::config::Config;
use crate::encryption_key;

pub async fn keys(config: &Config, cmd: &KeysCommand) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        KeysCommand::Rotate { alg, role } => {
            let master = encryption_key::load_existing(config)?;
            let alg = jose_alg(*alg)?;
            for role in roles(config, *role) {
                let rc = config.role(role);
                // The old key must outlive every token it signed, plus the reload interval.
                let publish_for = rc.access_token_lifetime.max(rc.id_token_lifetime) as i64 + 120;
                let kid = latchkey_oidc::keyring::rotate(
                    &store,
                    &role.issuer_id(),
                    alg,
                    &master,
                    publish_for,
                )
                .await?;
                println!(
                    "{}",
                    json!({"role": role.as_str(), "alg": alg.as_str(), "kid": kid})
                );
            }
        }
        KeysCommand::List { role } => {
            let now = unix_now();
            for role in roles(config, *role) {
                for k in store.list_signing_keys(&role.issuer_id(), now).await? {
                    println!(
                        "{}",
                        json!({
                            "role": role.as_str(), "kid": k.kid, "alg": k.alg, "created_at": k.created_at,
                            "current": k.retired_at.is_none(), "published_until": k.publish_until,
                        })
                    );
                }
            }
        }
    }
    store.close().await;
    Ok(())
}
