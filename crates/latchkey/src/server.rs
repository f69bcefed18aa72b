//! Running the enabled roles: one listener and one issuer each, one store, one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use latchkey_oidc::{Provider, ProviderSettings};
use latchkey_store::{Store, unix_now};

use crate::role::Role;
use tokio::sync::watch;

use crate::config::{Config, RoleConfig};
use crate::{encryption_key, web};

pub async fn run(config: &Config) -> Result<()> {
    let started = Instant::now();
    let config = &crate::tailnet_issuer::resolve(config).await?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let master = Arc::new(encryption_key::load_or_create(config)?);
    let store = Store::connect(&config.database_url)
        .await
        .context("opening the database")?;
    match store.tls_in_use().await {
        Ok(Some(tls)) => tracing::info!(backend = store.backend_name(), tls, "database ready"),
        _ => tracing::info!(backend = store.backend_name(), "database ready"),
    }
    let metrics = web::install_metrics()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for (role, rc) in config.enabled_roles() {
        let (provider, pages) = build_provider(role, rc, &store, &master).await?;
        provider.spawn_key_refresh(Duration::from_secs(60));
        let app = web::role_app(
            role,
            provider,
            pages,
            metrics.clone(),
            config.metrics_listen.is_none(),
        );
        let listener = tokio::net::TcpListener::bind(rc.listen)
            .await
            .with_context(|| format!("{role}: cannot listen on {}", rc.listen))?;
        let local = listener.local_addr()?;
        tracing::info!(%role, listen = %local, issuer = %rc.public_url, "serving");
        servers.spawn(serve(listener, app, stop_rx.clone(), role.as_str()));
    }
    for proxy in config.enabled_proxies() {
        let app = crate::proxy_role::proxy_app(proxy, &store, &master)?;
        let listen = proxy.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("proxy {:?}: cannot listen on {listen}", proxy.name))?;
        let local = listener.local_addr()?;
        tracing::info!(
            role = %Role::Proxy,
            name = %proxy.name,
            listen = %local,
            public_url = %proxy.public_url,
            "serving"
        );
        servers.spawn(serve(listener, app, stop_rx.clone(), Role::Proxy.as_str()));
    }
    if let Some(addr) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics: cannot listen on {addr}"))?;
        tracing::info!(listen = %addr, "serving metrics");
        let app = web::metrics_app(metrics.clone());
        servers.spawn(serve(listener, app, stop_rx.clone(), "metrics"));
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
    if config.enabled_roles().any(|(role, _)| role == Role::Idp) {
        let issuer = &config.role(Role::Idp).public_url;
        let link =
            latchkey_idp::links::setup_link_if_needed(&store, &Role::Idp.issuer_id(), issuer)
                .await
                .context("idp: making the setup link")?;
        if let Some(link) = link {
            tracing::info!(
                "No administrator yet. Open this link to create the first one with a passkey \
                 (it works once, for 24 hours; `latchkey setup-link` makes a new one): {link}"
            );
        }
    }
    spawn_purge(store.clone(), stop_rx.clone());

    let mut stopping = stop_rx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });
    let mut result = Ok(());
    let drain = async {
        while let Some(done) = servers.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(e.into()),
            }
        }
    };
    // Open requests get a grace period after the signal; a client that never finishes
    // does not keep the process alive.
    let deadline = async {
        let _ = stopping.wait_for(|v| *v).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = drain => {}
        _ = deadline => tracing::warn!("connections still open after the grace period; exiting"),
    }
    store.close().await;
    result
}

const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The role's issuer, and the role's own pages beside the protocol endpoints.
async fn build_provider(
    role: Role,
    rc: &RoleConfig,
    store: &Store,
    master: &Arc<latchkey_oidc::crypto::MasterKey>,
) -> Result<(Arc<Provider>, axum::Router)> {
    let settings = provider_settings(role, rc);
    match role {
        Role::Idp => {
            let idp = latchkey_idp::Idp::new(store.clone(), idp_settings(rc)?, master)
                .map_err(|e| anyhow::anyhow!("idp: {e} (check idp.public_url)"))?;
            let provider = Provider::new(
                settings,
                store.clone(),
                master.clone(),
                Arc::new(latchkey_idp::SessionAuthenticator::new(idp.clone())),
                Arc::new(latchkey_idp::DirectoryClaims::new(store.clone())),
            )
            .await
            .context("idp: loading signing keys")?;
            let provider = Arc::new(provider);
            // Sessions that end are told to the clients (back-channel logout), in the
            // background; a weak handle, so the engine and the role do not keep each other.
            let engine = Arc::downgrade(&provider);
            idp.set_logout_notifier(Box::new(move |subject, sid| {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                tokio::spawn(async move {
                    match engine.backchannel_logout(&subject, sid.as_deref()).await {
                        Ok(report) if !report.notified.is_empty() || report.grants_ended > 0 => {
                            tracing::info!(
                                clients = report.notified.len(),
                                grants = report.grants_ended,
                                "session ended: clients told"
                            );
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "back-channel logout failed"),
                    }
                });
            }));
            let pages = latchkey_idp::router(idp);
            Ok((provider, pages))
        }
        Role::Proxy => anyhow::bail!("the proxy role is not an issuer"),
        Role::Tsidp => {
            let socket = rc
                .tailscaled_socket
                .clone()
                .unwrap_or_else(|| latchkey_tsidp::localapi::DEFAULT_SOCKET.to_owned());
            let proxies = rc
                .trusted_proxies
                .iter()
                .map(|p| {
                    p.parse::<std::net::IpAddr>().with_context(|| {
                        format!("tsidp.trusted_proxies: {p:?} is not an IP address")
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            tracing::info!(socket = %socket, "tsidp: asking tailscaled who is connecting");
            let authenticator = Arc::new(latchkey_tsidp::TailnetAuthenticator::new(
                Arc::new(latchkey_tsidp::LocalApi::new(socket)),
                &rc.public_url,
                proxies,
                rc.allow_tagged,
            ));
            let provider = Arc::new(
                Provider::new(
                    settings,
                    store.clone(),
                    master.clone(),
                    authenticator.clone(),
                    Arc::new(latchkey_tsidp::TailnetDirectoryClaims::new(store.clone())),
                )
                .await
                .context("tsidp: loading signing keys")?,
            );
            let pages = latchkey_tsidp::admin::router(provider.clone(), authenticator);
            Ok((provider, pages))
        }
    }
}

/// The idp role's own settings from its section.
fn idp_settings(rc: &RoleConfig) -> Result<latchkey_idp::IdpSettings> {
    use latchkey_idp::passkey::{Attachment, PasskeySettings, UserVerification};
    let url = url::Url::parse(&rc.public_url).context("idp.public_url")?;
    let trusted_proxies = rc
        .trusted_proxies
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|e: String| anyhow::anyhow!("idp.trusted_proxies: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(latchkey_idp::IdpSettings {
        issuer: rc.public_url.clone(),
        issuer_id: Role::Idp.issuer_id(),
        session_duration: rc.session_duration as i64 * 60,
        trusted_proxies,
        passkeys: PasskeySettings {
            rp_id: url.host_str().unwrap_or("localhost").to_owned(),
            origin: url.origin().ascii_serialization(),
            rp_name: "Latchkey".to_owned(),
            user_verification: match rc.webauthn_user_verification.as_str() {
                "preferred" => UserVerification::Preferred,
                _ => UserVerification::Required,
            },
            attachment: match rc.webauthn_authenticator_attachment.as_str() {
                "platform" => Attachment::Platform,
                "cross-platform" => Attachment::CrossPlatform,
                _ => Attachment::Any,
            },
            allow_synced: rc.webauthn_allow_synced_passkeys,
            timeout: Duration::from_secs(60),
        },
    })
}

pub fn provider_settings(role: Role, rc: &RoleConfig) -> ProviderSettings {
    let mut s = ProviderSettings::new(role.issuer_id(), &rc.public_url);
    s.access_token_lifetime = rc.access_token_lifetime as i64;
    s.id_token_lifetime = rc.id_token_lifetime as i64;
    s.refresh_token_lifetime = rc.refresh_token_lifetime as i64;
    s.code_lifetime = rc.code_lifetime as i64;
    s.dynamic_registration = rc.dynamic_registration;
    s.token_exchange = rc.enable_sts;
    // The idp serves the page where people enter device codes; tsidp has none.
    s.device_flow = matches!(role, Role::Idp);
    s.backchannel_logout = matches!(role, Role::Idp);
    s
}

/// Serves `app` until `stop` turns true, then lets open requests finish.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    name: &'static str,
) -> Result<()> {
    use axum::serve::ListenerExt as _;
    // axum leaves Nagle's algorithm on: an answer written in two parts (the proxy's, when
    // the upstream's body comes after its head) would wait for the client's delayed ACK,
    // 40 ms on Linux.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY on an accepted connection");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|v| *v).await;
    })
    .await
    .with_context(|| format!("{name} server"))
}

/// Expired codes, tokens, sessions (the proxy's too) and deny-list entries are deleted every ten
/// minutes.
fn spawn_purge(store: Store, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|v| *v) => break,
            }
            let now = unix_now();
            match store.delete_expired(now).await {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired records"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
            }
            match store.delete_expired_proxy_sessions(now).await {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired proxy sessions"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired proxy sessions failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
