//! Reading a JWT's contents in assertions. Nothing here verifies a signature: tests that
//! mean to check one do it with the issuer's keys or through `openidconnect`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Header and payload of a compact JWS, unverified.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut part = || {
        let b = URL_SAFE_NO_PAD
            .decode(it.next().expect("JWT part"))
            .expect("base64url");
        serde_json::from_slice::<Value>(&b).expect("JSON")
    };
    let h = part();
    let p = part();
    (h, p)
}

/// The payload of a compact JWS, unverified.
pub fn jwt_claims(token: &str) -> Value {
    jwt_parts(token).1
}

/// base64url without padding, as in a JWS.
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}
