//! Authorization codes are sealed, not stored: the code is the authorization itself, encrypted
//! and authenticated with the instance key (AES-256-GCM), so issuing one costs no database
//! write and any replica can open it. Single use is enforced at redemption: the code names
//! the grant it creates, and a grant id can be inserted only once — a second redemption finds
//! the grant taken and revokes it (RFC 6749 §4.1.2).

use latchkey_store::{ClientId, GrantId, IssuerId, Subject};
use serde::{Deserialize, Serialize};

use crate::crypto::{MasterKey, b64url, b64url_decode};
use crate::snapshot::Snapshot;

/// Longest code issued or accepted; real ones are a few hundred bytes (more with large claim
/// sets from a role).
pub const MAX_CODE_LEN: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeClaims {
    pub grant: GrantId,
    pub client: ClientId,
    pub redirect_uri: String,
    /// Whether the authorization request named the redirect URI (then the token request must).
    pub redirect_given: bool,
    pub subject: Subject,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub snapshot: Snapshot,
    pub exp: i64,
}

fn is_default(s: &Snapshot) -> bool {
    *s == Snapshot::default()
}

/// Binds a code to its issuer, so no other issuer of this instance accepts it.
fn aad(issuer: &IssuerId) -> Vec<u8> {
    format!("latchkey-authorization-code|{issuer}").into_bytes()
}

pub fn seal(master: &MasterKey, issuer: &IssuerId, claims: &CodeClaims) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    b64url(&master.seal(&json, &aad(issuer)))
}

/// The code's content, if it is one of ours for this issuer (expiry is the caller's check).
pub fn open(master: &MasterKey, issuer: &IssuerId, code: &str) -> Option<CodeClaims> {
    if code.len() > MAX_CODE_LEN {
        return None;
    }
    let sealed = b64url_decode(code).ok()?;
    let json = master.open(&sealed, &aad(issuer)).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idp() -> IssuerId {
        IssuerId::from("idp")
    }

    fn sample() -> CodeClaims {
        CodeClaims {
            grant: GrantId::from("g"),
            client: ClientId::from("c"),
            redirect_uri: "https://app.example/cb".into(),
            redirect_given: true,
            subject: Subject::from("alice"),
            scope: "openid".into(),
            nonce: Some("n".into()),
            challenge: None,
            auth_time: 1,
            amr: vec!["phr".into()],
            snapshot: Snapshot::default(),
            exp: 2,
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let k = MasterKey::from_bytes(&[1u8; 32]).unwrap();
        let code = seal(&k, &idp(), &sample());
        assert_eq!(open(&k, &idp(), &code), Some(sample()));
        // Another issuer, another instance key, a flipped character: nothing.
        assert_eq!(open(&k, &IssuerId::from("tsidp"), &code), None);
        let other = MasterKey::from_bytes(&[2u8; 32]).unwrap();
        assert_eq!(open(&other, &idp(), &code), None);
        let mut tampered = code.clone().into_bytes();
        tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open(&k, &idp(), std::str::from_utf8(&tampered).unwrap()),
            None
        );
        assert_eq!(open(&k, &idp(), "not a code"), None);
        assert_eq!(open(&k, &idp(), &"A".repeat(MAX_CODE_LEN + 1)), None);
    }

    #[test]
    fn codes_differ_each_time() {
        let k = MasterKey::from_bytes(&[1u8; 32]).unwrap();
        assert_ne!(seal(&k, &idp(), &sample()), seal(&k, &idp(), &sample()));
    }
}
