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

/// `jwk` with member `name` set to `value`, or removed when `value` is `None`.
fn edited(jwk: &Value, name: &str, value: Option<Value>) -> Value {
    let mut j = jwk.clone();
    let obj = j.as_object_mut().unwrap();
    match value {
        Some(v) => obj.insert(name.into(), v),
        None => obj.remove(name),
    };
    j
}

fn invalid(jwk: &Value) -> &'static str {
    match VerifyingKey::from_jwk(jwk) {
        Err(JoseError::InvalidJwk(why)) => why,
        other => panic!("expected InvalidJwk, got {other:?}"),
    }
}

/// Public keys and signatures made by other implementations: RFC 7515
/// A.2 (RS256) and A.3 (ES256), RFC 8037 A.4 (EdDSA). Their headers carry
/// no kid, so the signature is checked on the key directly.
#[test]
fn imports_published_keys_and_verifies_their_signatures() {
    const CLAIMS: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    let vectors = [
        (
            json!({"kty": "RSA", "e": "AQAB", "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}),
            Alg::RS256,
            format!("eyJhbGciOiJSUzI1NiJ9.{CLAIMS}"),
            "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw",
        ),
        (
            json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}),
            Alg::ES256,
            format!("eyJhbGciOiJFUzI1NiJ9.{CLAIMS}"),
            "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
        ),
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            Alg::EdDSA,
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc".to_string(),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
        ),
    ];
    // RFC 8037 A.3; a JWK without kid gets its thumbprint.
    assert_eq!(
        jwk_thumbprint(&vectors[2].0).unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    for (jwk, alg, input, sig) in vectors {
        let vk = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(vk.alg(), alg);
        assert_eq!(vk.kid(), jwk_thumbprint(&jwk).unwrap());
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert!(vk.verify(input.as_bytes(), &sig), "{alg}");
        assert!(!vk.verify(format!("{input}x").as_bytes(), &sig), "{alg}");
        sig[7] ^= 0x01;
        assert!(!vk.verify(input.as_bytes(), &sig), "{alg}");
    }
}

/// What a relying party does with another provider's JWKS: import every
/// entry, then let the token's kid pick the key.
#[test]
fn imported_jwks_verifies_by_kid() {
    let jwks = json!({ "keys": Alg::ALL.map(|alg| key(alg).public_jwk().clone()) });
    let jwks: Value = serde_json::from_str(&jwks.to_string()).unwrap();
    let verifiers: Vec<VerifyingKey> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|jwk| VerifyingKey::from_jwk(jwk).unwrap())
        .collect();
    let find = |kid: &str| verifiers.iter().find(|vk| vk.kid() == kid);
    for alg in Alg::ALL {
        let token = key(alg).sign_jwt("JWT", &claims()).unwrap();
        let (header, payload) = verify_jwt(&token, find).unwrap();
        assert_eq!(header.alg, alg.as_str());
        assert_eq!(Value::Object(payload), claims());
    }
    let stranger = SigningKey::generate(Alg::EdDSA).unwrap();
    let token = stranger.sign_jwt("JWT", &claims()).unwrap();
    assert_eq!(verify_jwt(&token, find), Err(JoseError::UnknownKid));
}

#[test]
fn import_refuses_private_members() {
    for alg in Alg::ALL {
        let public = key(alg).public_jwk();
        for member in PRIVATE_JWK_MEMBERS {
            let jwk = edited(public, member, Some(json!("AQAB")));
            assert_eq!(
                invalid(&jwk),
                "contains private key members",
                "{alg} {member}"
            );
        }
    }
    // RFC 8037 A.2: the private Ed25519 key itself.
    let private = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    });
    assert_eq!(invalid(&private), "contains private key members");
}

#[test]
fn import_refuses_mismatched_alg_and_kty() {
    for alg in Alg::ALL {
        let public = key(alg).public_jwk();
        for other in Alg::ALL.into_iter().filter(|a| *a != alg) {
            let jwk = edited(public, "alg", Some(json!(other.as_str())));
            assert_eq!(invalid(&jwk), "alg does not match the key type");
        }
        for kty in ["RSA", "EC", "OKP", "rsa", "oct", ""] {
            let jwk = edited(public, "kty", Some(json!(kty)));
            if jwk == *public {
                continue;
            }
            assert!(VerifyingKey::from_jwk(&jwk).is_err(), "{alg} as {kty:?}");
        }
        assert_eq!(
            invalid(&edited(public, "kty", None)),
            "required member missing"
        );
        assert_eq!(
            invalid(&edited(public, "kty", Some(json!(1)))),
            "member has the wrong type"
        );
    }
}

#[test]
fn import_refuses_other_curves() {
    let ec = key(Alg::ES256).public_jwk();
    for crv in ["P-384", "P-521", "secp256k1", "Ed25519", "p-256", ""] {
        let jwk = edited(ec, "crv", Some(json!(crv)));
        assert_eq!(invalid(&jwk), "unsupported EC curve", "{crv:?}");
    }
    let okp = key(Alg::EdDSA).public_jwk();
    for crv in ["X25519", "Ed448", "P-256", "ed25519", ""] {
        let jwk = edited(okp, "crv", Some(json!(crv)));
        assert_eq!(invalid(&jwk), "unsupported OKP curve", "{crv:?}");
    }
    for jwk in [ec, okp] {
        assert_eq!(
            invalid(&edited(jwk, "crv", None)),
            "required member missing"
        );
    }
}

#[test]
fn import_checks_key_sizes() {
    // A modulus of `bits` bits: top bit set, odd.
    let modulus = |bits: usize| {
        let mut n = vec![0xc5u8; bits.div_ceil(8)];
        n[0] = 1 << ((bits - 1) % 8);
        json!({"kty": "RSA", "e": "AQAB", "n": b64(&n)})
    };
    for bits in [512, 1024, 2047, 8193, 16384] {
        assert_eq!(
            invalid(&modulus(bits)),
            "RSA modulus size not supported",
            "{bits}"
        );
    }
    for bits in [2048, 4096, 8192] {
        assert!(VerifyingKey::from_jwk(&modulus(bits)).is_ok(), "{bits}");
    }
    let rsa = modulus(2048);
    assert!(invalid(&edited(&rsa, "e", Some(json!("AAEAAQ")))).contains("leading zeros"));
    assert!(invalid(&edited(&rsa, "e", Some(json!("")))).contains("leading zeros"));
    assert_eq!(invalid(&edited(&rsa, "e", None)), "required member missing");
    assert_eq!(
        invalid(&edited(&rsa, "n", Some(json!(12345)))),
        "member has the wrong type"
    );

    let ec = key(Alg::ES256).public_jwk();
    for coord in ["x", "y"] {
        for len in [31, 33, 48] {
            let jwk = edited(ec, coord, Some(json!(b64(&vec![7u8; len]))));
            assert_eq!(invalid(&jwk), "P-256 coordinates must be 32 bytes");
        }
        assert_eq!(invalid(&edited(ec, coord, None)), "required member missing");
    }
    let okp = key(Alg::EdDSA).public_jwk();
    for len in [0, 31, 33, 57] {
        let jwk = edited(okp, "x", Some(json!(b64(&vec![7u8; len]))));
        assert_eq!(invalid(&jwk), "Ed25519 key must be 32 bytes");
    }
}
