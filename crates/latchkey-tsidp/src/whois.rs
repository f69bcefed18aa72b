//! Lenient parsing of the body of a successful LocalAPI `GET /localapi/v0/whois?addr=IP:PORT`
//! (Go's `apitype.WhoIsResponse`, PascalCase JSON).
//!
//! tailscaled versions differ in which fields they omit (`omitempty` / `omitzero`) and in a few
//! fields that came and went (`UserProfile.Roles` in old versions, `UserProfile.Groups` since
//! 2026-02), so every field inside `Node` and `UserProfile` may be absent or `null` and unknown
//! fields are ignored. Only the shape itself is required: a JSON object holding `Node` and
//! `UserProfile` objects. A field that is present with the wrong JSON type is an error: that
//! is not a tailscaled we understand.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Peer capabilities granted to the caller by the tailnet policy, by capability name
/// (`tailcfg.PeerCapMap`). Each value is the list of raw JSON rules of that capability.
pub type CapMap = BTreeMap<String, Vec<Value>>;

/// LoginName tailscaled reports for the owner of tagged nodes.
pub const TAGGED_DEVICES_LOGIN: &str = "tagged-devices";

/// Who is at the other end of a connection, according to tailscaled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WhoIs {
    pub node: Node,
    pub user: UserProfile,
    pub cap_map: CapMap,
}

/// The subset of `tailcfg.Node` tsidp uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// `ID`: the numeric node ID (tsidp's `nid` claim).
    pub id: i64,
    /// `StableID`, e.g. `"nAbC123CNTRL"`.
    pub stable_id: String,
    /// `Name`: the MagicDNS FQDN with its trailing dot, e.g. `"alice-laptop.tail1234.ts.net."`.
    pub name: String,
    /// `User`: the numeric ID of the user owning the node.
    pub user: i64,
    /// `Key`: the node public key, `"nodekey:<hex>"`.
    pub key: String,
    /// `Addresses`: the node's tailnet IPs as prefixes, `"100.x.y.z/32"`, `"fd7a:…/128"`.
    pub addresses: Vec<String>,
    /// `Tags`: ACL tags; non-empty only for tagged nodes.
    pub tags: Vec<String>,
    /// `ComputedName`: the MagicDNS base name (or FQDN without dot for shared-in nodes).
    pub computed_name: String,
    /// `Hostinfo.Hostname`: the OS hostname.
    pub hostname: String,
    /// `Hostinfo.OS`, e.g. `"linux"`, `"macOS"`.
    pub os: String,
}

/// `tailcfg.UserProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// `ID`: the numeric user ID.
    pub id: i64,
    /// `LoginName`, e.g. `"alice@example.com"`, `"alice@github"`, `"tagged-devices"`.
    pub login_name: String,
    /// `DisplayName`, e.g. `"Alice Smith"`.
    pub display_name: String,
    /// `ProfilePicURL`; often absent.
    pub profile_pic_url: String,
    /// `Groups`: SCIM groups or policy `group:` names the control plane chose to report.
    pub groups: Vec<String>,
}

/// Why a WhoIs body could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum WhoIsError {
    #[error("whois response is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("whois response is not a JSON object")]
    NotAnObject,
    #[error("whois response has no {0} object")]
    Missing(&'static str),
    #[error("whois response has a malformed {part}: {source}")]
    Malformed {
        part: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl WhoIs {
    /// Parses the 200 body of `/localapi/v0/whois`.
    pub fn parse(body: &[u8]) -> Result<WhoIs, WhoIsError> {
        let value: Value = serde_json::from_slice(body).map_err(WhoIsError::Json)?;
        let Value::Object(mut top) = value else {
            return Err(WhoIsError::NotAnObject);
        };
        let node: RawNode = take_part(&mut top, "Node")?;
        let user: RawUserProfile = take_part(&mut top, "UserProfile")?;
        let cap_map = match top.remove("CapMap") {
            None | Some(Value::Null) => CapMap::new(),
            Some(v) => serde_json::from_value::<BTreeMap<String, Nullable<Vec<Value>>>>(v)
                .map_err(|source| WhoIsError::Malformed {
                    part: "CapMap",
                    source,
                })?
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        };
        let hostinfo = node.hostinfo.0;
        Ok(WhoIs {
            node: Node {
                id: node.id.0,
                stable_id: node.stable_id.0,
                name: node.name.0,
                user: node.user.0,
                key: node.key.0,
                addresses: node.addresses.0,
                tags: node.tags.0,
                computed_name: node.computed_name.0,
                hostname: hostinfo.hostname.0,
                os: hostinfo.os.0,
            },
            user: UserProfile {
                id: user.id.0,
                login_name: user.login_name.0,
                display_name: user.display_name.0,
                profile_pic_url: user.profile_pic_url.0,
                groups: user.groups.0,
            },
            cap_map,
        })
    }

    /// Whether the node is tagged (it has ACL tags, or tailscaled names its owner
    /// `tagged-devices`). tsidp refuses to sign in tagged nodes.
    pub fn is_tagged(&self) -> bool {
        !self.node.tags.is_empty() || self.user.login_name == TAGGED_DEVICES_LOGIN
    }

    /// The tailnet's MagicDNS domain, from the node name:
    /// `"host.tail1234.ts.net."` → `"tail1234.ts.net"`. `None` when the name has no domain.
    pub fn tailnet(&self) -> Option<String> {
        let name = self.node.name.trim_end_matches('.');
        match name.split_once('.') {
            Some((_, domain)) if !domain.is_empty() => Some(domain.to_owned()),
            _ => None,
        }
    }
}

fn take_part<T: for<'de> Deserialize<'de>>(
    top: &mut serde_json::Map<String, Value>,
    part: &'static str,
) -> Result<T, WhoIsError> {
    match top.remove(part) {
        None | Some(Value::Null) => Err(WhoIsError::Missing(part)),
        Some(v) => {
            // serde would also fill a struct from an array; tailscaled only sends objects.
            let nested_ok = match &v {
                Value::Object(obj) => obj
                    .get("Hostinfo")
                    .is_none_or(|h| h.is_null() || h.is_object()),
                _ => false,
            };
            if !nested_ok {
                let source = <serde_json::Error as serde::de::Error>::custom(format!(
                    "expected a JSON object (with Hostinfo an object) in {part}"
                ));
                return Err(WhoIsError::Malformed { part, source });
            }
            serde_json::from_value(v).map_err(|source| WhoIsError::Malformed { part, source })
        }
    }
}

/// A field that may be absent or `null`; both read as the default value.
#[derive(Debug, Default)]
struct Nullable<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}

#[derive(Deserialize)]
struct RawNode {
    #[serde(rename = "ID", default)]
    id: Nullable<i64>,
    #[serde(rename = "StableID", default)]
    stable_id: Nullable<String>,
    #[serde(rename = "Name", default)]
    name: Nullable<String>,
    #[serde(rename = "User", default)]
    user: Nullable<i64>,
    #[serde(rename = "Key", default)]
    key: Nullable<String>,
    #[serde(rename = "Addresses", default)]
    addresses: Nullable<Vec<String>>,
    #[serde(rename = "Tags", default)]
    tags: Nullable<Vec<String>>,
    #[serde(rename = "ComputedName", default)]
    computed_name: Nullable<String>,
    #[serde(rename = "Hostinfo", default)]
    hostinfo: Nullable<RawHostinfo>,
}

#[derive(Deserialize, Default)]
struct RawHostinfo {
    #[serde(rename = "Hostname", default)]
    hostname: Nullable<String>,
    #[serde(rename = "OS", default)]
    os: Nullable<String>,
}

#[derive(Deserialize)]
struct RawUserProfile {
    #[serde(rename = "ID", default)]
    id: Nullable<i64>,
    #[serde(rename = "LoginName", default)]
    login_name: Nullable<String>,
    #[serde(rename = "DisplayName", default)]
    display_name: Nullable<String>,
    #[serde(rename = "ProfilePicURL", default)]
    profile_pic_url: Nullable<String>,
    #[serde(rename = "Groups", default)]
    groups: Nullable<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_NODE: &str = r#"{
      "Node": {
        "ID": 1234567890123456,
        "StableID": "nAbCdEf1CNTRL",
        "Name": "alice-laptop.tail1234.ts.net.",
        "User": 987654321,
        "Sharer": 0,
        "Key": "nodekey:5b8ec5e8a5b1d2a3f7c4d8e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9",
        "KeyExpiry": "2026-09-01T12:00:00Z",
        "Machine": "mkey:0000000000000000000000000000000000000000000000000000000000000000",
        "DiscoKey": "discokey:1111111111111111111111111111111111111111111111111111111111111111",
        "Addresses": ["100.101.102.103/32", "fd7a:115c:a1e0::1234:5678/128"],
        "AllowedIPs": ["100.101.102.103/32", "fd7a:115c:a1e0::1234:5678/128"],
        "Endpoints": ["192.0.2.10:41641"],
        "HomeDERP": 2,
        "Hostinfo": {"OS": "linux", "Hostname": "alice-laptop", "IPNVersion": "1.90.0", "Services": []},
        "Created": "2025-01-02T03:04:05Z",
        "Cap": 120,
        "Online": true,
        "MachineAuthorized": true,
        "ComputedName": "alice-laptop",
        "ComputedNameWithHost": "alice-laptop"
      },
      "UserProfile": {
        "ID": 987654321,
        "LoginName": "alice@example.com",
        "DisplayName": "Alice Smith",
        "ProfilePicURL": "https://lh3.googleusercontent.com/a/alice",
        "Groups": ["group:eng", "engineering@example.com"]
      },
      "CapMap": {
        "tailscale.com/cap/tsidp": [
          {"allow_admin_ui": true, "allow_dcr": true, "users": ["*"], "resources": ["*"],
           "extraClaims": {"groups": ["admin"]}, "includeInUserInfo": true}
        ],
        "example.com/cap/other": null
      }
    }"#;

    #[test]
    fn user_node() {
        let w = WhoIs::parse(USER_NODE.as_bytes()).unwrap();
        assert_eq!(w.node.id, 1234567890123456);
        assert_eq!(w.node.stable_id, "nAbCdEf1CNTRL");
        assert_eq!(w.node.name, "alice-laptop.tail1234.ts.net.");
        assert_eq!(w.node.user, 987654321);
        assert!(w.node.key.starts_with("nodekey:5b8e"));
        assert_eq!(
            w.node.addresses,
            ["100.101.102.103/32", "fd7a:115c:a1e0::1234:5678/128"]
        );
        assert!(w.node.tags.is_empty());
        assert_eq!(w.node.computed_name, "alice-laptop");
        assert_eq!(w.node.hostname, "alice-laptop");
        assert_eq!(w.node.os, "linux");
        assert_eq!(w.user.id, 987654321);
        assert_eq!(w.user.login_name, "alice@example.com");
        assert_eq!(w.user.display_name, "Alice Smith");
        assert_eq!(
            w.user.profile_pic_url,
            "https://lh3.googleusercontent.com/a/alice"
        );
        assert_eq!(w.user.groups, ["group:eng", "engineering@example.com"]);
        let rules = &w.cap_map["tailscale.com/cap/tsidp"];
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["allow_dcr"], Value::Bool(true));
        assert_eq!(w.cap_map["example.com/cap/other"], Vec::<Value>::new());
        assert!(!w.is_tagged());
        assert_eq!(w.tailnet().as_deref(), Some("tail1234.ts.net"));
    }

    #[test]
    fn old_style_body_with_roles_no_groups_no_capmap() {
        let body = r#"{
          "Node": {"ID": 42, "StableID": "n42CNTRL", "Name": "bob-pc.example.ts.net.", "User": 7,
                   "Key": "nodekey:abcd", "KeyExpiry": "0001-01-01T00:00:00Z",
                   "Addresses": ["100.64.0.7/32"], "AllowedIPs": ["100.64.0.7/32"],
                   "DERP": "127.3.3.40:1", "Hostinfo": {}, "Created": "2023-01-01T00:00:00Z",
                   "ComputedName": "bob-pc", "ComputedNameWithHost": "bob-pc"},
          "UserProfile": {"ID": 7, "LoginName": "bob@example.org", "DisplayName": "Bob",
                          "ProfilePicURL": "", "Roles": []}
        }"#;
        let w = WhoIs::parse(body.as_bytes()).unwrap();
        assert_eq!(w.node.id, 42);
        assert_eq!(w.node.addresses, ["100.64.0.7/32"]);
        assert_eq!(w.node.hostname, "");
        assert_eq!(w.user.login_name, "bob@example.org");
        assert!(w.user.groups.is_empty());
        assert!(w.user.profile_pic_url.is_empty());
        assert!(w.cap_map.is_empty());
        assert_eq!(w.tailnet().as_deref(), Some("example.ts.net"));
    }

    #[test]
    fn tagged_node() {
        let body = r#"{
          "Node": {"ID": 99, "Name": "ci-runner.tail1234.ts.net.", "User": 123,
                   "Key": "nodekey:ffff", "Addresses": ["100.100.1.1/32"],
                   "Tags": ["tag:ci", "tag:server"],
                   "Hostinfo": {"OS": "linux", "Hostname": "runner-7"}},
          "UserProfile": {"ID": 123, "LoginName": "tagged-devices", "DisplayName": "Tagged Devices"}
        }"#;
        let w = WhoIs::parse(body.as_bytes()).unwrap();
        assert_eq!(w.node.tags, ["tag:ci", "tag:server"]);
        assert!(w.is_tagged());

        // Either signal alone is enough.
        let mut only_login = w.clone();
        only_login.node.tags.clear();
        assert!(only_login.is_tagged());
        let mut only_tags = w;
        only_tags.user.login_name = "alice@example.com".into();
        assert!(only_tags.is_tagged());
    }

    #[test]
    fn null_fields_read_as_defaults() {
        let body = r#"{
          "Node": {"ID": null, "StableID": null, "Name": null, "User": null, "Key": null,
                   "Addresses": null, "Tags": null, "ComputedName": null, "Hostinfo": null},
          "UserProfile": {"ID": null, "LoginName": null, "DisplayName": null,
                          "ProfilePicURL": null, "Groups": null},
          "CapMap": null
        }"#;
        let w = WhoIs::parse(body.as_bytes()).unwrap();
        assert_eq!(w, WhoIs::default());
        assert_eq!(w.tailnet(), None);
        assert!(!w.is_tagged());

        let w =
            WhoIs::parse(br#"{"Node":{"Hostinfo":{"OS":null,"Hostname":null}},"UserProfile":{}}"#)
                .unwrap();
        assert_eq!(w, WhoIs::default());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let body = r#"{
          "Node": {"ID": 1, "Name": "a.b.ts.net.", "FutureField": {"x": [1, 2]}, "PrimaryRoutes": ["10.0.0.0/8"],
                   "CapMap": {"https://tailscale.com/cap/is-admin": null}},
          "UserProfile": {"ID": 2, "LoginName": "a@b.c", "Shiny": true},
          "CapMap": {},
          "SomethingNew": [1, 2, 3]
        }"#;
        let w = WhoIs::parse(body.as_bytes()).unwrap();
        assert_eq!(w.node.id, 1);
        assert_eq!(w.user.login_name, "a@b.c");
        assert!(w.cap_map.is_empty());
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(matches!(
            WhoIs::parse(b"not json"),
            Err(WhoIsError::Json(_))
        ));
        assert!(matches!(WhoIs::parse(b"[]"), Err(WhoIsError::NotAnObject)));
        assert!(matches!(
            WhoIs::parse(b"\"Node\""),
            Err(WhoIsError::NotAnObject)
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"UserProfile":{}}"#),
            Err(WhoIsError::Missing("Node"))
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{}}"#),
            Err(WhoIsError::Missing("UserProfile"))
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":null,"UserProfile":{}}"#),
            Err(WhoIsError::Missing("Node"))
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":"alice-laptop","UserProfile":{}}"#),
            Err(WhoIsError::Malformed { part: "Node", .. })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{},"UserProfile":[]}"#),
            Err(WhoIsError::Malformed {
                part: "UserProfile",
                ..
            })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{"Hostinfo":"linux"},"UserProfile":{}}"#),
            Err(WhoIsError::Malformed { part: "Node", .. })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{"Hostinfo":[]},"UserProfile":{}}"#),
            Err(WhoIsError::Malformed { part: "Node", .. })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":[],"UserProfile":{}}"#),
            Err(WhoIsError::Malformed { part: "Node", .. })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{"ID":"12"},"UserProfile":{}}"#),
            Err(WhoIsError::Malformed { part: "Node", .. })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{},"UserProfile":{},"CapMap":["x"]}"#),
            Err(WhoIsError::Malformed { part: "CapMap", .. })
        ));
        assert!(matches!(
            WhoIs::parse(br#"{"Node":{},"UserProfile":{},"CapMap":{"a":{"not":"a list"}}}"#),
            Err(WhoIsError::Malformed { part: "CapMap", .. })
        ));
        // Error messages say what was wrong.
        let e = WhoIs::parse(br#"{"Node":{}}"#).unwrap_err();
        assert_eq!(e.to_string(), "whois response has no UserProfile object");
    }

    #[test]
    fn tailnet_from_node_name() {
        let mut w = WhoIs::default();
        for (name, want) in [
            ("host.tail1234.ts.net.", Some("tail1234.ts.net")),
            ("host.tail1234.ts.net", Some("tail1234.ts.net")),
            ("host.example.com.", Some("example.com")),
            ("host.", None),
            ("host", None),
            ("", None),
        ] {
            w.node.name = name.into();
            assert_eq!(w.tailnet().as_deref(), want, "{name}");
        }
    }
}
