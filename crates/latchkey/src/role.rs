//! The roles this binary can serve. Each enabled role is one issuer; its section name in the
//! configuration is the issuer's stable id in the database ([`Role::issuer_id`]), so records
//! made by earlier releases (keyed by the same names) stay found.

use latchkey_store::IssuerId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Idp,
    Tsidp,
    /// The auth proxy: no issuer; its id keys its sessions in the store.
    Proxy,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Idp => "idp",
            Role::Tsidp => "tsidp",
            Role::Proxy => "proxy",
        }
    }

    /// The id that keys this role's issuer in the store (for the proxy, its sessions).
    pub fn issuer_id(self) -> IssuerId {
        IssuerId::from(self.as_str())
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "idp" => Ok(Role::Idp),
            "tsidp" => Ok(Role::Tsidp),
            "proxy" => Ok(Role::Proxy),
            other => Err(format!(
                "unknown role {other:?} (expected idp, tsidp or proxy)"
            )),
        }
    }
}
