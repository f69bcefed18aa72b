//! OpenID Connect Back-Channel Logout 1.0, the provider's side: when a person's session with
//! the role ends, each client that registered a `backchannel_logout_uri` and holds a grant
//! from that session gets a logout token, and those grants end (unless they were given for
//! `offline_access`).

use std::collections::HashMap;
use std::time::Duration;

use latchkey_store::{Client, ClientId, StoreError, Subject, unix_now};
use serde_json::Value;

use crate::provider::Provider;
use crate::snapshot::Snapshot;

/// Client metadata (OpenID Connect Back-Channel Logout 1.0 §2.2).
pub const BACKCHANNEL_LOGOUT_URI: &str = "backchannel_logout_uri";

/// How long a client's logout endpoint may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `client` wants logout tokens, if it registered an http(s) URI.
pub fn logout_uri(client: &Client) -> Option<&str> {
    client
        .metadata
        .get(BACKCHANNEL_LOGOUT_URI)
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// What a logout did: clients told (and whether each answered 2xx), grants ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LogoutReport {
    pub notified: Vec<(ClientId, bool)>,
    pub grants_ended: usize,
}

impl Provider {
    /// Ends `subject`'s grants from session `sid` (every session when `None`) and sends each
    /// client that asked for it a logout token. Failures to reach a client are logged, never
    /// fatal: the person's session has ended either way.
    pub async fn backchannel_logout(
        &self,
        subject: &Subject,
        sid: Option<&str>,
    ) -> Result<LogoutReport, StoreError> {
        let now = unix_now();
        let grants = self
            .store
            .list_live_grants(self.issuer_id(), subject, now)
            .await?;
        let mut by_client: HashMap<ClientId, Option<String>> = HashMap::new();
        let mut report = LogoutReport::default();
        for grant in grants {
            let grant_sid = serde_json::from_str::<Snapshot>(&grant.snapshot)
                .ok()
                .and_then(|s| s.sid);
            if sid.is_some() && grant_sid.as_deref() != sid {
                continue;
            }
            by_client
                .entry(grant.client_id.clone())
                .or_insert(grant_sid);
            if !grant
                .scope
                .split_whitespace()
                .any(|s| s == "offline_access")
            {
                self.store.revoke_grant(&grant.id, now).await?;
                report.grants_ended += 1;
            }
        }
        if report.grants_ended > 0 {
            self.forget_grants();
        }
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StoreError::Malformed(format!("HTTP client: {e}")))?;
        for (client_id, grant_sid) in by_client {
            let Some(client) = self.find_client(&client_id).await? else {
                continue;
            };
            let Some(uri) = logout_uri(&client) else {
                continue;
            };
            let token = match self
                .mint_logout_token(&client, subject, grant_sid.as_deref().or(sid))
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(client = %client_id, error = %e, "logout token not made");
                    report.notified.push((client_id, false));
                    continue;
                }
            };
            let sent = http
                .post(uri)
                .form(&[("logout_token", token.as_str())])
                .send()
                .await;
            let ok = match sent {
                Ok(r) if r.status().is_success() => true,
                Ok(r) => {
                    tracing::warn!(client = %client_id, status = r.status().as_u16(), "client refused the logout token");
                    false
                }
                Err(e) => {
                    tracing::warn!(client = %client_id, error = %e, "client's logout endpoint unreachable");
                    false
                }
            };
            report.notified.push((client_id, ok));
        }
        Ok(report)
    }
}
