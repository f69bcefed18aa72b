//! One-shot commands: health check, signing keys, clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use latchkey_oidc::clients::{NewClient, create_client, rotate_secret};
use latchkey_oidc::jose::Alg;
use latchkey_store::{Client, ClientId, Store, unix_now};

use crate::role::Role;
use serde_json::{Value, json};

use crate::cli::{ClientsCommand, Command, KeysCommand};
use crate::config::Config;
use crate::encryption_key;

/// GET /healthz on the primary role's listener (or `url`); exit status tells the result.
pub async fn healthcheck(config: &Config, command: &Command, url: Option<&str>) -> Result<()> {
    let (addr, host, path) = match url {
        Some(u) => {
            let parsed = url::Url::parse(u).with_context(|| format!("--url {u:?}"))?;
            if parsed.scheme() != "http" {
                bail!("healthcheck speaks plain http only");
            }
            let host = parsed
                .host_str()
                .ok_or_else(|| anyhow!("--url has no host"))?
                .to_owned();
            let port = parsed.port_or_known_default().unwrap_or(80);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .ok_or_else(|| anyhow!("cannot resolve {host}"))?;
            (addr, host, parsed.path().to_owned())
        }
        None => {
            let mut addr = config.role(command.primary_role()).listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            (addr, addr.ip().to_string(), "/healthz".to_owned())
        }
    };
    tokio::task::spawn_blocking(move || probe(addr, &host, &path))
        .await
        .context("health check task")?
}

fn probe(addr: SocketAddr, host: &str, path: &str) -> Result<()> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut buf)?;
    let head = String::from_utf8_lossy(&buf);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        println!("healthy");
        Ok(())
    } else {
        bail!("unhealthy: {addr}{path} answered {status:?}")
    }
}

pub(crate) async fn open_store(config: &Config) -> Result<Store> {
    if config.database_url.starts_with("sqlite://") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    Store::connect(&config.database_url)
        .await
        .context("opening the database")
}

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

pub async fn keys(config: &Config, cmd: &KeysCommand) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        KeysCommand::Rotate { alg, role } => {
            let master = encryption_key::load_existing(config)?;
            let alg: Alg = alg
                .map(|a| a.as_str())
                .unwrap_or("RS256")
                .parse()
                .map_err(|e| anyhow!("{e}"))?;
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

fn client_json(c: &Client) -> Value {
    json!({
        "role": c.issuer.as_str(),
        "client_id": c.id.as_str(),
        "name": c.name,
        "public": c.public,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "id_token_signed_response_alg": c.id_token_alg,
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
        } => {
            let alg: Alg = alg
                .map(|a| a.as_str())
                .unwrap_or("RS256")
                .parse()
                .map_err(|e| anyhow!("{e}"))?;
            let created = create_client(
                &store,
                &role.issuer_id(),
                NewClient {
                    name: name.clone(),
                    redirect_uris: redirect_uris.clone(),
                    post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                    public: *public,
                    id_token_alg: alg,
                    metadata: json!({}),
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
