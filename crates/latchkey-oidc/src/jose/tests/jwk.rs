//! Our published JWKs, and importing public JWKs as verifiers.

use super::*;
use crate::jose::jwk::PRIVATE_JWK_MEMBERS;

#[test]
fn public_jwk_shape() {
    for alg in Alg::ALL {
        let k = key(alg);
        let jwk = k.public_jwk().as_object().unwrap();
        assert_eq!(jwk["kid"], k.kid());
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        for m in PRIVATE_JWK_MEMBERS {
            assert!(!jwk.contains_key(m));
        }
        let member = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        match alg {
            Alg::RS256 => {
                assert_eq!(jwk["kty"], "RSA");
                assert_eq!(jwk.len(), 6);
                let n = member("n");
                assert_eq!(n.len(), 256);
                assert_ne!(n[0], 0);
                assert_eq!(jwk["e"], "AQAB");
            }
            Alg::ES256 => {
                assert_eq!(jwk["kty"], "EC");
                assert_eq!(jwk["crv"], "P-256");
                assert_eq!(jwk.len(), 7);
                assert_eq!(member("x").len(), 32);
                assert_eq!(member("y").len(), 32);
            }
            Alg::EdDSA => {
                assert_eq!(jwk["kty"], "OKP");
                assert_eq!(jwk["crv"], "Ed25519");
                assert_eq!(jwk.len(), 6);
                assert_eq!(member("x").len(), 32);
            }
        }
        assert_eq!(jwk_thumbprint(k.public_jwk()).unwrap(), k.kid());
        assert_eq!(k.kid().len(), 43);
    }
}

#[test]
fn from_jwk_verifies() {
    for alg in Alg::ALL {
        let k = key(alg);
        // Through a JSON round trip, as a client reading the JWKS would.
        let published: Value =
            serde_json::from_str(&serde_json::to_string(k.public_jwk()).unwrap()).unwrap();
        let vk = VerifyingKey::from_jwk(&published).unwrap();
        assert_eq!(vk.kid(), k.kid());
        assert_eq!(vk.alg(), alg);
        let token = k.sign_jwt("JWT", &claims()).unwrap();
        verify_with(&token, &vk).unwrap();

        // kid defaults to the thumbprint; alg is optional.
        let mut bare = published.clone();
        bare.as_object_mut().unwrap().remove("kid");
        bare.as_object_mut().unwrap().remove("alg");
        bare.as_object_mut().unwrap().remove("use");
        assert_eq!(VerifyingKey::from_jwk(&bare).unwrap().kid(), k.kid());

        // Inconsistent or unsafe JWKs.
        let with = |name: &str, v: Value| {
            let mut j = published.clone();
            j.as_object_mut().unwrap().insert(name.into(), v);
            VerifyingKey::from_jwk(&j)
        };
        assert!(with("alg", json!("none")).is_err());
        assert!(with("alg", json!("HS256")).is_err());
        for other in Alg::ALL.into_iter().filter(|a| *a != alg) {
            assert!(with("alg", json!(other.as_str())).is_err());
        }
        assert!(with("use", json!("enc")).is_err());
        assert!(with("d", json!("AAAA")).is_err());
        assert!(with("kid", json!(7)).is_err());
        assert!(with("kid", json!("")).is_err());
        let key_member = if alg == Alg::RS256 { "n" } else { "x" };
        assert!(with(key_member, json!("not base64!")).is_err());
        assert!(with(key_member, json!("AAAA")).is_err());
        assert!(with("kty", json!("oct")).is_err());
    }
    assert!(VerifyingKey::from_jwk(&json!("RSA")).is_err());
    assert!(VerifyingKey::from_jwk(&json!({})).is_err());
    // EC point not on the curve.
    let bad_point = json!({"kty":"EC","crv":"P-256","x":b64(&[1u8;32]),"y":b64(&[2u8;32])});
    assert!(VerifyingKey::from_jwk(&bad_point).is_err());
    // Too-small RSA modulus.
    let small = json!({"kty":"RSA","n":b64(&[0xc3u8; 128]),"e":"AQAB"});
    assert!(VerifyingKey::from_jwk(&small).is_err());
    // Leading zero in n.
    let mut n = vec![0u8];
    n.extend_from_slice(&[0xc3u8; 256]);
    let padded = json!({"kty":"RSA","n":b64(&n),"e":"AQAB"});
    assert!(VerifyingKey::from_jwk(&padded).is_err());
}

#[test]
fn rfc7638_thumbprint() {
    // RFC 7638 §3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        jwk_thumbprint(&jwk).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // The same key imported without a kid gets the thumbprint as kid.
    let mut bare = jwk.clone();
    bare.as_object_mut().unwrap().remove("kid");
    assert_eq!(
        VerifyingKey::from_jwk(&bare).unwrap().kid(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap().kid(), "2011-04-29");
}
