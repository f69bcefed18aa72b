//! The proxy role as the server runs it, once per enabled `[proxy]` or `[[proxy]]` section:
//! its settings from the section, the proxy built on the shared store and instance key, and
//! the provider discovered in the background (a provider that is down does not keep the proxy
//! from starting; its pages say so meanwhile).

use std::sync::Arc;

use anyhow::{Context, Result};
use latchkey_oidc::crypto::MasterKey;
use latchkey_proxy::Proxy;
use latchkey_store::Store;

use crate::config::ProxyConfig;

/// The proxy's router: its own endpoints and, for everything else, the upstreams. The shared
/// security headers are not layered on it: the proxy sets them on its own pages, and an
/// upstream's answers go back as the upstream sent them.
pub fn proxy_app(
    config: &ProxyConfig,
    store: &Store,
    master: &Arc<MasterKey>,
) -> Result<axum::Router> {
    let settings = config
        .settings()
        .with_context(|| format!("proxy {:?}: settings", config.name))?;
    let proxy = Proxy::new(settings, store.clone(), master.clone())
        .map_err(|e| anyhow::anyhow!("proxy: {e}"))?;
    let discover = proxy.clone();
    tokio::spawn(async move {
        let rp = discover.relying_party();
        match rp.metadata().await {
            Ok(_) => tracing::info!(
                issuer = %discover.settings().provider.issuer_url,
                "proxy: provider discovered"
            ),
            Err(e) => tracing::warn!(
                issuer = %discover.settings().provider.issuer_url,
                error = %e,
                "proxy: the provider cannot be discovered yet; sign-in will retry"
            ),
        }
    });
    Ok(latchkey_proxy::router(proxy))
}
