//! One-shot commands: each opens the servers' store, does one thing and prints the result.
//! `healthcheck` instead asks a running server.

mod clients;
mod groups;
mod healthcheck;
mod keys;
mod links;
mod users;

use anyhow::{Context, Result, anyhow};
use latchkey_oidc::jose::Alg;
use latchkey_store::{Store, StoreError};

use crate::role::Role;

use crate::cli;
use crate::config::Config;

pub use clients::clients;
pub use groups::groups;
pub use healthcheck::healthcheck;
pub use keys::keys;
pub use links::setup_link;
pub use users::users;

/// The servers' database; the data directory is made first for SQLite.
async fn open_store(config: &Config) -> Result<Store> {
    if config.database_url.starts_with("sqlite://") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    Store::connect(&config.database_url)
        .await
        .context("opening the database")
}

/// The roles a command acts on: the one asked for, else every enabled one (idp when none is).
fn roles(config: &Config, only: Option<Role>) -> Vec<Role> {
    match only {
        Some(r) => vec![r],
        None => {
            let enabled: Vec<Role> = config.enabled_roles().map(|(r, _)| r).collect();
            if enabled.is_empty() {
                vec![Role::Idp]
            } else {
                enabled
            }
        }
    }
}

/// The signature algorithm asked for, RS256 by default.
fn jose_alg(alg: Option<cli::Alg>) -> Result<Alg> {
    alg.map(|a| a.as_str())
        .unwrap_or("RS256")
        .parse()
        .map_err(|e| anyhow!("{e}"))
}

/// A store conflict as "`what` is already taken".
fn taken(e: StoreError, what: &str) -> anyhow::Error {
    match e {
        StoreError::Conflict => anyhow!("{what} is already taken"),
        other => anyhow!(other),
    }
}
