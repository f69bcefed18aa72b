//! `latchkey setup-link`: a fresh one-time link for the first administrator.

use anyhow::{Result, bail};
use latchkey_store::LinkPurpose;

use super::open_store;
use crate::config::Config;
use crate::role::Role;

pub async fn setup_link(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let result = async {
        if store.count_admins().await? > 0 {
            bail!(
                "there is an administrator already; sign in with a passkey, or make a sign-in link \
                 with `latchkey users login-link USER`"
            );
        }
        let issuer_id = Role::Idp.issuer_id();
        // The newest link is the one to use: older ones stop working.
        store
            .delete_one_time_links(&issuer_id, LinkPurpose::Setup)
            .await?;
        let url = latchkey_idp::links::create_link(
            &store,
            &issuer_id,
            &config.role(Role::Idp).public_url,
            LinkPurpose::Setup,
            None,
            latchkey_idp::links::SETUP_LINK_LIFETIME,
        )
        .await?;
        Ok(url)
    }
    .await;
    store.close().await;
    println!("{}", result?);
    Ok(())
}
