//! What the idp adds to a client, kept in the client's metadata: who may use it, whether it
//! asks for consent, and how "My apps" shows it.

use latchkey_store::Client;
use serde_json::Value;

/// Metadata names (ours).
pub const ALLOWED_GROUPS: &str = "allowed_groups";
pub const SKIP_CONSENT: &str = "skip_consent";
pub const LAUNCH_URL: &str = "launch_url";
/// When the logo uploaded in the admin pages last changed (unix seconds): its URL carries
/// it, so browsers may cache a logo for long and still see a new one at once.
pub const LOGO_VERSION: &str = "logo_version";
/// Seconds: a session signed in longer ago must sign in again for this client (Pocket ID's
/// per-client session duration).
pub const SESSION_DURATION: &str = "session_duration";

pub struct ClientPolicy {
    /// Empty: anyone in the directory.
    pub allowed_groups: Vec<String>,
    pub skip_consent: bool,
    pub launch_url: Option<String>,
    /// Set when the client has a logo.
    pub logo_version: Option<i64>,
    /// Seconds; `None`: the issuer's session duration.
    pub session_duration: Option<i64>,
}

impl ClientPolicy {
    pub fn of(client: &Client) -> ClientPolicy {
        let m = &client.metadata;
        let text = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .filter(|s| s.starts_with("https://") || s.starts_with("http://"))
                .map(str::to_owned)
        };
        ClientPolicy {
            allowed_groups: m
                .get(ALLOWED_GROUPS)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            skip_consent: m
                .get(SKIP_CONSENT)
                .and_then(Value::as_bool)
                .unwrap_or(false),
            launch_url: text(LAUNCH_URL),
            logo_version: m.get(LOGO_VERSION).and_then(Value::as_i64),
            session_duration: m
                .get(SESSION_DURATION)
                .and_then(Value::as_i64)
                .filter(|s| *s > 0),
        }
    }

    /// Whether someone in `groups` may use the client (group names compare without case).
    pub fn admits(&self, groups: &[String]) -> bool {
        self.allowed_groups.is_empty()
            || self
                .allowed_groups
                .iter()
                .any(|a| groups.iter().any(|g| g.to_lowercase() == a.to_lowercase()))
    }
}

/// The name to show for a client.
pub fn display_name(client: &Client) -> &str {
    if client.name.trim().is_empty() {
        client.id.as_str()
    } else {
        &client.name
    }
}
