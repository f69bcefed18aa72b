//! Signing, verification, and refusing malformed or forged tokens.

use super::*;
use crate::jose::jws::MAX_SIG_LEN;

#[test]
fn sign_verify_each_alg() {
    for alg in Alg::ALL {
        let k = key(alg);
        assert_eq!(k.alg(), alg);
        let token = k.sign_jwt("at+jwt", &claims()).unwrap();
        let vk = k.verifying_key();
        assert_eq!(vk.kid(), k.kid());
        assert_eq!(vk.alg(), alg);
        let (header, payload) = verify_with(&token, &vk).unwrap();
        assert_eq!(header.alg, alg.as_str());
        assert_eq!(header.kid.as_deref(), Some(k.kid()));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(Value::Object(payload), claims());
        assert_eq!(decode_header(&token).unwrap(), header);

        // Exact header bytes and member order.
        let (h, _, sig) = split3(&token);
        assert_eq!(
            h,
            format!(
                r#"{{"alg":"{}","kid":"{}","typ":"at+jwt"}}"#,
                alg.as_str(),
                k.kid()
            )
        );
        assert_eq!(sig.len(), k.signature_len());
        assert_eq!(sig.len(), if alg == Alg::RS256 { 256 } else { 64 });
    }
}

#[test]
fn typ_is_escaped() {
    let k = key(Alg::EdDSA);
    let token = k.sign_jwt("a\"b\\c", &claims()).unwrap();
    let (header, _) = verify_with(&token, &k.verifying_key()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("a\"b\\c"));
}

#[test]
fn claims_must_be_object() {
    let k = key(Alg::EdDSA);
    assert!(matches!(
        k.sign_jwt("JWT", &json!([1, 2])),
        Err(JoseError::Serialize(_))
    ));
    assert!(matches!(
        k.sign_jwt("JWT", &"str"),
        Err(JoseError::Serialize(_))
    ));
}

#[test]
fn pkcs8_round_trip() {
    for alg in Alg::ALL {
        let k = key(alg);
        let der = k.to_pkcs8().unwrap();
        let k2 = SigningKey::from_pkcs8(alg, &der).unwrap();
        assert_eq!(k2.kid(), k.kid());
        assert_eq!(k2.alg(), alg);
        assert_eq!(k2.public_jwk(), k.public_jwk());
        assert_eq!(k2.to_pkcs8().unwrap(), der);

        let old = k.sign_jwt("JWT", &claims()).unwrap();
        verify_with(&old, &k2.verifying_key()).unwrap();
        let new = k2.sign_jwt("JWT", &claims()).unwrap();
        verify_with(&new, &k.verifying_key()).unwrap();

        // Wrong algorithm for the key type.
        for other in Alg::ALL.into_iter().filter(|a| *a != alg) {
            assert!(SigningKey::from_pkcs8(other, &der).is_err());
        }
        assert!(SigningKey::from_pkcs8(alg, &der[..der.len() - 1]).is_err());
        assert!(SigningKey::from_pkcs8(alg, b"").is_err());
    }
}

#[test]
fn tampering_is_rejected() {
    for alg in Alg::ALL {
        let k = key(alg);
        let vk = k.verifying_key();
        let token = k.sign_jwt("JWT", &claims()).unwrap();
        let (h, c, sig) = split3(&token);
        assert_eq!(assemble(&h, &c, &sig), token);

        // Payload changed.
        let forged = assemble(&h, &c.replace("alice", "mallory"), &sig);
        assert_eq!(verify_with(&forged, &vk), Err(JoseError::BadSignature));

        // Signature changed, every byte position tried for ES/Ed.
        let step = if alg == Alg::RS256 { 37 } else { 1 };
        for i in (0..sig.len()).step_by(step) {
            let mut s = sig.clone();
            s[i] ^= 0x01;
            assert_eq!(
                verify_with(&assemble(&h, &c, &s), &vk),
                Err(JoseError::BadSignature)
            );
        }
        assert_eq!(
            verify_with(&assemble(&h, &c, &sig[..sig.len() - 1]), &vk),
            Err(JoseError::BadSignature)
        );
        let mut longer = sig.clone();
        longer.push(0);
        assert_eq!(
            verify_with(&assemble(&h, &c, &longer), &vk),
            Err(JoseError::BadSignature)
        );

        // alg: none, with and without the original signature.
        let none = h.replace(alg.as_str(), "none");
        assert_eq!(
            verify_with(&assemble(&none, &c, &sig), &vk),
            Err(JoseError::AlgMismatch)
        );
        assert_eq!(
            verify_with(&assemble(&none, &c, b""), &vk),
            Err(JoseError::AlgMismatch)
        );
        // Other algorithms, supported or not.
        for other in ["RS256", "ES256", "EdDSA", "HS256", "PS256"] {
            if other == alg.as_str() {
                continue;
            }
            let h2 = h.replace(alg.as_str(), other);
            assert_eq!(
                verify_with(&assemble(&h2, &c, &sig), &vk),
                Err(JoseError::AlgMismatch)
            );
        }

        // Unknown kid, missing kid.
        assert_eq!(
            verify_jwt(&token, |_| None::<&VerifyingKey>),
            Err(JoseError::UnknownKid)
        );
        let h_nokid = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, alg.as_str());
        assert_eq!(
            verify_jwt(&assemble(&h_nokid, &c, &sig), |_| Some(&vk)),
            Err(JoseError::MissingKid)
        );

        // A kid resolving to a different key of the same alg.
        let other = SigningKey::generate(alg).unwrap().verifying_key();
        assert_eq!(
            verify_jwt(&token, |_| Some(&other)),
            Err(JoseError::BadSignature)
        );

        // Part count.
        let parts: Vec<&str> = token.split('.').collect();
        assert!(verify_with(&format!("{}.{}", parts[0], parts[1]), &vk).is_err());
        assert!(verify_with(&format!("{token}.{}", parts[2]), &vk).is_err());
        assert!(verify_with(&format!("{token}."), &vk).is_err());
        assert!(verify_with(parts[0], &vk).is_err());

        // Every strict prefix fails.
        for end in 0..token.len() {
            assert!(verify_with(&token[..end], &vk).is_err(), "prefix {end}");
        }

        // Padding or non-URL-safe base64 in any part.
        for (i, _) in parts.iter().enumerate() {
            for bad in ["=", "+", "/", "!", " "] {
                let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
                p[i].push_str(bad);
                assert!(verify_with(&p.join("."), &vk).is_err(), "part {i} {bad:?}");
            }
        }
    }
}

#[test]
fn malformed_headers_and_payloads() {
    let k = key(Alg::ES256);
    let vk = k.verifying_key();
    let hdr = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, k.kid());
    let sign = |h: &str, p: &str| {
        let input = format!("{}.{}", b64(h.as_bytes()), b64(p.as_bytes()));
        let sig = k.sign_raw(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_slice()))
    };
    // Sanity: the helper makes valid tokens.
    verify_with(&sign(&hdr, r#"{"a":1}"#), &vk).unwrap();

    for payload in [
        r#"[1]"#,
        r#""x""#,
        "1",
        "null",
        "",
        "{",
        r#"{"a":1}x"#,
        "\u{0}",
    ] {
        assert!(
            matches!(
                verify_with(&sign(&hdr, payload), &vk),
                Err(JoseError::Malformed(_))
            ),
            "{payload:?}"
        );
    }
    let crit = format!(
        r#"{{"alg":"ES256","kid":"{}","crit":["exp"],"exp":1}}"#,
        k.kid()
    );
    assert!(matches!(
        verify_with(&sign(&crit, "{}"), &vk),
        Err(JoseError::Malformed(_))
    ));
    let array = format!(r#"["ES256","{}",null]"#, k.kid());
    assert!(matches!(
        verify_with(&sign(&array, "{}"), &vk),
        Err(JoseError::Malformed(_))
    ));
    let dup = format!(r#"{{"alg":"ES256","alg":"none","kid":"{}"}}"#, k.kid());
    assert!(verify_with(&sign(&dup, "{}"), &vk).is_err());
    let wrong_type = format!(r#"{{"alg":"ES256","kid":{}}}"#, 5);
    assert!(verify_with(&sign(&wrong_type, "{}"), &vk).is_err());
    assert!(verify_with(&sign("{}", "{}"), &vk).is_err());
    assert!(verify_with(&sign("", "{}"), &vk).is_err());
}

#[test]
fn garbage_and_oversized() {
    let k = key(Alg::EdDSA);
    let vk = k.verifying_key();
    let any = |_: &str| Some(&vk);
    for t in [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "e30.e30.",
        "e30.e30.e30",
        "!!.??.##",
        "é.é.é",
        "eyJhbGciOiJFZERTQSJ9..",
        "\u{0}.\u{0}.\u{0}",
    ] {
        assert!(verify_jwt(t, any).is_err(), "{t:?}");
        assert!(verify_with(t, &vk).is_err(), "{t:?}");
    }
    assert!(decode_header("x").is_err());
    assert!(decode_header("!.a.b").is_err());

    let big = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(verify_jwt(&big, any), Err(JoseError::TokenTooLarge));
    assert_eq!(decode_header(&big), Err(JoseError::TokenTooLarge));

    // A validly signed token that is too large.
    let pad = "x".repeat(MAX_TOKEN_LEN);
    let token = k.sign_jwt("JWT", &json!({ "pad": pad })).unwrap();
    assert_eq!(verify_with(&token, &vk), Err(JoseError::TokenTooLarge));

    // Oversized signature part (still under the token limit).
    let token = k.sign_jwt("JWT", &claims()).unwrap();
    let long_sig = format!("{token}{}", "A".repeat(2000));
    assert!(verify_with(&long_sig, &vk).is_err());

    // Pseudo-random byte soup, including '.', never panics.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let len = (state % 200) as usize;
        let mut s = String::new();
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let c = b"ABCxyz09-_.=+/{}\"e"[(state % 18) as usize];
            s.push(char::from(c));
        }
        let _ = verify_jwt(&s, any);
        let _ = decode_header(&s);
        state = state.wrapping_add(1);
    }
}

#[test]
fn max_size_signature_decodes_into_stack_buffer() {
    let sig = [0xa5u8; MAX_SIG_LEN];
    let enc = b64(&sig);
    assert_eq!(enc.len(), b64_len(MAX_SIG_LEN));
    let mut buf = [0u8; MAX_SIG_LEN];
    assert_eq!(
        URL_SAFE_NO_PAD.decode_slice(&enc, &mut buf),
        Ok(MAX_SIG_LEN)
    );
    assert_eq!(buf, sig);
}
