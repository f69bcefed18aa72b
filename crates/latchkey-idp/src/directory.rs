//! Rules for directory entries, shared by every way of editing the directory (the CLI today,
//! the admin pages later): what a username, a group name and a custom claim may be.

use latchkey_store::{Group, GroupId, User, UserId, unix_now};
use serde_json::Value;

/// Claims a custom claim may not set: the ones the engine sets, and the ones the directory's
/// own fields answer (a custom `email` would let an administrator impersonate someone).
const RESERVED: &[&str] = &[
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "groups",
    "picture",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(msg.into())
}

/// A name people type: 1–64 characters of letters, digits and `.` `_` `-` `@`, starting with a
/// letter or digit.
fn check_name(kind: &str, name: &str) -> Result<(), DirectoryError> {
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    let starts_well = name.chars().next().is_some_and(char::is_alphanumeric);
    if name.is_empty() || name.chars().count() > 64 || !starts_well || !name.chars().all(ok_char) {
        return Err(invalid(format!(
            "{kind} {name:?}: use 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
        )));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), DirectoryError> {
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(invalid(format!("{email:?} is not an e-mail address")))
    }
}

/// A custom claim name: not reserved, 1–64 characters of letters, digits, `_`, `-`, `.`, `:`.
pub fn check_claim_name(name: &str) -> Result<(), DirectoryError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(invalid(format!(
            "claim name {name:?}: use 1 to 64 letters, digits, '_', '-', '.' or ':'"
        )));
    }
    if RESERVED.contains(&name) || latchkey_oidc::tokens::REGISTERED_CLAIMS.contains(&name) {
        return Err(invalid(format!(
            "claim name {name:?} is reserved: it is set from the directory's own fields or by the issuer"
        )));
    }
    Ok(())
}

/// A custom claim value as an administrator writes it: JSON when it parses as JSON
/// (`42`, `true`, `["a","b"]`, `{"k":1}`, `"quoted"`), otherwise the text itself.
pub fn parse_claim_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

/// What a new user needs; the id and times are made here.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub display_name: Option<String>,
    pub is_admin: bool,
}

pub fn new_user(n: NewUser) -> Result<User, DirectoryError> {
    check_name("username", &n.username)?;
    if let Some(e) = &n.email {
        check_email(e)?;
    }
    let display_name = n.display_name.unwrap_or_else(|| {
        let full = format!("{} {}", n.first_name, n.last_name);
        match full.trim() {
            "" => n.username.clone(),
            full => full.to_owned(),
        }
    });
    let now = unix_now();
    Ok(User {
        id: UserId(uuid_v4()),
        username: n.username,
        email: n.email,
        // Set by an administrator, not proven by the person.
        email_verified: false,
        first_name: n.first_name,
        last_name: n.last_name,
        display_name,
        is_admin: n.is_admin,
        disabled: false,
        created_at: now,
        updated_at: now,
    })
}

pub fn new_group(name: &str, friendly_name: Option<&str>) -> Result<Group, DirectoryError> {
    check_name("group name", name)?;
    let now = unix_now();
    Ok(Group {
        id: GroupId(uuid_v4()),
        name: name.to_owned(),
        friendly_name: friendly_name.unwrap_or(name).to_owned(),
        created_at: now,
        updated_at: now,
    })
}

/// A random (version 4) UUID, the shape of Pocket ID's user ids.
fn uuid_v4() -> String {
    let mut b = latchkey_oidc::crypto::random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_checked() {
        for good in ["alice", "a.b-c_d", "alice@example.com", "Ünal"] {
            assert!(check_name("username", good).is_ok(), "{good}");
        }
        for bad in ["", "-alice", "al ice", "a<b", &"x".repeat(65)] {
            assert!(check_name("username", bad).is_err(), "{bad:?}");
        }
        assert!(check_email("alice@example.com").is_ok());
        for bad in [
            "alice",
            "@example.com",
            "alice@localhost",
            "a b@example.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_claims_are_refused() {
        for bad in [
            "sub", "email", "groups", "aud", "act", "name", "", "a b", "x\"y",
        ] {
            assert!(check_claim_name(bad).is_err(), "{bad:?}");
        }
        for good in ["department", "urn:example:role", "cost-center"] {
            assert!(check_claim_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn claim_values_are_json_when_they_parse() {
        assert_eq!(parse_claim_value("42"), Value::from(42));
        assert_eq!(
            parse_claim_value("[\"a\",\"b\"]"),
            serde_json::json!(["a", "b"])
        );
        assert_eq!(parse_claim_value("ops"), Value::from("ops"));
        assert_eq!(parse_claim_value("\"42\""), Value::from("42"));
    }

    #[test]
    fn new_entries_get_ids_and_names() {
        let u = new_user(NewUser {
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            first_name: "Alice".into(),
            last_name: "Smith".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(u.display_name, "Alice Smith");
        assert_eq!(u.id.as_str().len(), 36);
        assert_eq!(&u.id.as_str()[14..15], "4");
        let bare = new_user(NewUser {
            username: "bob".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(bare.display_name, "bob");
        assert_ne!(u.id, bare.id);
        assert!(
            new_user(NewUser {
                username: "carol".into(),
                email: Some("not-an-address".into()),
                ..Default::default()
            })
            .is_err()
        );
        let g = new_group("eng", None).unwrap();
        assert_eq!(g.friendly_name, "eng");
        assert!(new_group("bad name", None).is_err());
    }
}
