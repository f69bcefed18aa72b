//! Shared fixtures, and tests that span the JOSE modules.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::jws::b64_len;
use super::*;

mod jwk;
mod jws;

/// RSA generation is slow; share one key per algorithm across tests.
fn key(alg: Alg) -> &'static SigningKey {
    static KEYS: OnceLock<[SigningKey; 3]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| Alg::ALL.map(|a| SigningKey::generate(a).unwrap()));
    &keys[Alg::ALL.iter().position(|a| *a == alg).unwrap()]
}

fn claims() -> Value {
    json!({"iss": "https://sso.example", "sub": "alice", "n": 1, "nested": {"a": [1, 2]}})
}

fn verify_with(
    token: &str,
    key: &VerifyingKey,
) -> Result<(JwtHeader, Map<String, Value>), JoseError> {
    verify_jwt(token, |kid| (kid == key.kid()).then_some(key))
}

/// Rebuilds a token from raw header JSON, payload JSON and signature bytes.
fn assemble(header: &str, payload: &str, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(sig)
    )
}

fn split3(token: &str) -> (String, String, Vec<u8>) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3);
    let h = String::from_utf8(URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
    let c = String::from_utf8(URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
    (h, c, URL_SAFE_NO_PAD.decode(p[2]).unwrap())
}

#[test]
fn send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SigningKey>();
    assert_send_sync::<VerifyingKey>();
    assert_send_sync::<JoseError>();
}

#[test]
fn debug_output_has_no_key_material() {
    let k = key(Alg::EdDSA);
    let s = format!("{k:?}");
    assert!(s.contains(k.kid()));
    let x = k.public_jwk()["x"].as_str().unwrap();
    assert!(!s.contains(x));
    let v = format!("{:?}", k.verifying_key());
    assert!(v.contains(k.kid()) && !v.contains(x));
}

#[test]
fn b64_len_matches() {
    for n in 0..50 {
        assert_eq!(b64_len(n), b64(&vec![0u8; n]).len());
    }
}
