//! The sign-in snapshot: what a role vouched for when a person signed in. It travels inside
//! the sealed authorization code, is kept with the grant, and is handed back to the role's
//! [`crate::ClaimsSource`] at every token and userinfo answer, so a refreshed token says what
//! the sign-in said even when the role's identity source has moved on.
//!
//! Standard claims are typed and readable by anyone (the engine, audit, a future session list);
//! a role keeps what only it understands in its own versioned [`Extension`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default, skip_serializing_if = "StandardClaims::is_empty")]
    pub standard: StandardClaims,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<Extension>,
    /// The role's session the sign-in belongs to (the ID token's `sid`, which back-channel
    /// logout tokens name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Claims of OpenID Connect Core §5.1 (and the common `groups`) known at sign-in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl StandardClaims {
    pub fn is_empty(&self) -> bool {
        *self == StandardClaims::default()
    }

    /// The claims that are set, as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}

/// A role's own part of the snapshot, opaque to the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// Which format this is (the role's [`SnapshotExtension::KIND`]).
    pub kind: String,
    /// Its version: a role that changes the shape bumps it, and can tell old grants apart.
    pub v: u32,
    pub data: Value,
}

/// A role's typed extension. `KIND` names the format, `VERSION` its shape.
pub trait SnapshotExtension: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const VERSION: u32;
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("the sign-in snapshot is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the sign-in snapshot has no {expected} part")]
    Missing { expected: &'static str },
    #[error(
        "the sign-in snapshot's part is {found:?} v{version}, expected {expected} v{expected_version}"
    )]
    Foreign {
        found: String,
        version: u32,
        expected: &'static str,
        expected_version: u32,
    },
}

impl Snapshot {
    pub fn new(standard: StandardClaims) -> Snapshot {
        Snapshot {
            standard,
            ext: None,
            sid: None,
        }
    }

    /// A snapshot carrying the role's extension `ext`.
    pub fn with_extension<T: SnapshotExtension>(
        standard: StandardClaims,
        ext: &T,
    ) -> Result<Snapshot, SnapshotError> {
        Ok(Snapshot {
            standard,
            ext: Some(Extension {
                kind: T::KIND.to_owned(),
                v: T::VERSION,
                data: serde_json::to_value(ext)?,
            }),
            sid: None,
        })
    }

    /// The role's extension, when it is of kind `T::KIND` and version `T::VERSION`.
    pub fn extension<T: SnapshotExtension>(&self) -> Result<T, SnapshotError> {
        let ext = self
            .ext
            .as_ref()
            .ok_or(SnapshotError::Missing { expected: T::KIND })?;
        if ext.kind != T::KIND || ext.v != T::VERSION {
            return Err(SnapshotError::Foreign {
                found: ext.kind.clone(),
                version: ext.v,
                expected: T::KIND,
                expected_version: T::VERSION,
            });
        }
        Ok(T::deserialize(&ext.data)?)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(json: &str) -> Result<Snapshot, SnapshotError> {
        Ok(serde_json::from_str(json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Mine {
        login: String,
    }
    impl SnapshotExtension for Mine {
        const KIND: &'static str = "mine";
        const VERSION: u32 = 2;
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Other {}
    impl SnapshotExtension for Other {
        const KIND: &'static str = "other";
        const VERSION: u32 = 1;
    }

    #[test]
    fn round_trip_and_extension_checks() {
        let standard = StandardClaims {
            email: Some("a@example.com".into()),
            email_verified: Some(true),
            ..Default::default()
        };
        let s = Snapshot::with_extension(standard.clone(), &Mine { login: "a".into() }).unwrap();
        let json = s.to_json();
        assert_eq!(
            json,
            r#"{"standard":{"email":"a@example.com","email_verified":true},"ext":{"kind":"mine","v":2,"data":{"login":"a"}}}"#
        );
        let back = Snapshot::from_json(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            back.extension::<Mine>().unwrap(),
            Mine { login: "a".into() }
        );
        assert!(matches!(
            back.extension::<Other>(),
            Err(SnapshotError::Foreign { .. })
        ));
        assert!(matches!(
            Snapshot::new(standard).extension::<Mine>(),
            Err(SnapshotError::Missing { expected: "mine" })
        ));
        // An older version of the same kind is refused, not misread.
        let old = r#"{"ext":{"kind":"mine","v":1,"data":{"login":"a"}}}"#;
        assert!(
            Snapshot::from_json(old)
                .unwrap()
                .extension::<Mine>()
                .is_err()
        );
        assert!(Snapshot::from_json("\"text\"").is_err());
        assert!(Snapshot::from_json("{\"standard\": 3}").is_err());
        assert_eq!(Snapshot::from_json("{}").unwrap(), Snapshot::default());
        assert_eq!(Snapshot::default().to_json(), "{}");
    }

    #[test]
    fn standard_claims_as_a_map() {
        let c = StandardClaims {
            name: Some("Alice".into()),
            groups: Some(vec!["eng".into()]),
            ..Default::default()
        };
        let m = c.to_map();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"name": "Alice", "groups": ["eng"]})
        );
    }
}
