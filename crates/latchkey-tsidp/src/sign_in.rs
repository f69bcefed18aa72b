//! What the tsidp role keeps of a sign-in in the grant's snapshot: tsidp's own answers (the
//! ID-token and userinfo claims, gated as tsidp gates them), the tailnet login and the grant
//! rules that decide RFC 8707 / 8693 audiences. The standard part of the snapshot carries the
//! person's e-mail, name, username, picture and groups for anyone else who reads it.

use latchkey_oidc::{Snapshot, SnapshotError, SnapshotExtension, StandardClaims};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::grants::{Grants, matches_any};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TailnetSignIn {
    /// tsidp's ID-token claims: the WhoIs identity plus the grants' extra claims.
    pub id_token: Map<String, Value>,
    /// tsidp's `/userinfo` claims.
    pub userinfo: Map<String, Value>,
    /// The tailnet login name (`alice@example.com`, `alice@github`).
    pub login: String,
    /// The grant rules' (users, resources) pairs.
    pub resource_rules: Vec<ResourceRule>,
}

impl SnapshotExtension for TailnetSignIn {
    const KIND: &'static str = "tsidp";
    const VERSION: u32 = 1;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRule {
    pub users: Vec<String>,
    pub resources: Vec<String>,
}

impl TailnetSignIn {
    pub fn new(
        id_token: Map<String, Value>,
        userinfo: Map<String, Value>,
        login: &str,
        grants: &Grants,
    ) -> TailnetSignIn {
        TailnetSignIn {
            id_token,
            userinfo,
            login: login.to_owned(),
            resource_rules: grants
                .rules
                .iter()
                .map(|r| ResourceRule {
                    users: r.users.clone(),
                    resources: r.resources.clone(),
                })
                .collect(),
        }
    }

    /// The snapshot to keep with the grant.
    pub fn into_snapshot(self) -> Result<Snapshot, SnapshotError> {
        let text = |k: &str| {
            self.id_token
                .get(k)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let standard = StandardClaims {
            email: text("email"),
            name: text("name"),
            preferred_username: text("preferred_username"),
            picture: text("picture"),
            groups: self
                .id_token
                .get("groups")
                .and_then(|g| serde_json::from_value(g.clone()).ok()),
            ..Default::default()
        };
        Snapshot::with_extension(standard, &self)
    }

    /// As tsidp: a resource is allowed when one rule lists the user (or `*`) and the
    /// resource (or `*`).
    pub fn allows(&self, resource: &str) -> bool {
        self.resource_rules.iter().any(|rule| {
            matches_any(&rule.users, &self.login) && matches_any(&rule.resources, resource)
        })
    }
}
