//! What must not verify: other origins and RP IDs, stale or forged states, other challenges,
//! malformed responses, mismatched passkeys; and what must: passkeys imported from Pocket ID.

mod passkey_support;

use latchkey_idp::passkey::{Ceremonies, NewPasskey, PasskeyError, StoredPasskey};
use latchkey_oidc::crypto::b64url;
use passkey_support::{
    Browser, KEY, NOW, ORIGIN, USER_ID, ceremonies, field, settings, user, with_option,
};
use serde_json::{Value, json};

fn stored(new: &NewPasskey) -> StoredPasskey {
    StoredPasskey {
        credential_id: new.credential_id.clone(),
        user_handle: new.user_handle.clone(),
        public_key: new.public_key.clone(),
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
    }
}

async fn register(c: &Ceremonies, browser: &mut Browser) -> NewPasskey {
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = browser.create(&options).await.expect("created");
    c.finish_registration(&state, &response, NOW)
        .expect("registered")
}

fn is_auth_failure(result: Result<impl std::fmt::Debug, PasskeyError>) -> bool {
    matches!(result, Err(PasskeyError::AuthenticationFailed(_)))
}

// ---- origin and RP ID ----

#[tokio::test]
async fn other_origin_is_refused() {
    // Same host, other port: the RP ID matches, the origin does not.
    let c = ceremonies(settings());
    let mut elsewhere = Browser::new("https://id.example.com:8443");
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = elsewhere.create(&options).await.expect("created");
    let err = c.finish_registration(&state, &response, NOW).unwrap_err();
    assert!(matches!(err, PasskeyError::InvalidResponse(_)), "{err:?}");

    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    // The same authenticator, reached from the other origin.
    browser.move_to("https://id.example.com:8443");
    let (options, state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    assert!(is_auth_failure(c.finish_authentication(
        &state,
        &assertion,
        &stored(&new),
        NOW
    )));
    browser.move_to(ORIGIN);
    let (options, state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    assert!(
        c.finish_authentication(&state, &assertion, &stored(&new), NOW)
            .is_ok()
    );
}

#[tokio::test]
async fn other_rp_id_is_refused() {
    // The client accepts "example.com" for https://id.example.com (a registrable suffix), so
    // the authenticator data carries SHA-256("example.com") while we expect "id.example.com".
    let c = ceremonies(settings());
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let options = with_option(&options, &["rp", "id"], json!("example.com"));
    let response = Browser::new(ORIGIN)
        .create(&options)
        .await
        .expect("created");
    let err = c.finish_registration(&state, &response, NOW).unwrap_err();
    assert!(matches!(err, PasskeyError::InvalidResponse(_)), "{err:?}");

    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let (options, state) = c.start_authentication(NOW).expect("options");
    let options = with_option(&options, &["rpId"], json!("example.com"));
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    assert!(is_auth_failure(c.finish_authentication(
        &state,
        &assertion,
        &stored(&new),
        NOW
    )));
}

// ---- ceremony state ----

#[tokio::test]
async fn expired_state_is_refused() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = browser.create(&options).await.expect("created");
    assert_eq!(
        c.finish_registration(&state, &response, NOW + 61)
            .unwrap_err(),
        PasskeyError::InvalidSession
    );
    // The last second of the 60 is still in time.
    let new = c
        .finish_registration(&state, &response, NOW + 60)
        .expect("in time");

    let (options, state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    let err = c
        .finish_authentication(&state, &assertion, &stored(&new), NOW + 61)
        .unwrap_err();
    assert_eq!(err, PasskeyError::InvalidSession);
    assert_eq!(err.code(), "invalid_webauthn_session");
    assert!(
        c.finish_authentication(&state, &assertion, &stored(&new), NOW + 60)
            .is_ok()
    );
}

#[tokio::test]
async fn state_of_the_other_kind_is_refused() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let (options, reg_state) = c.start_registration(&user(), &[], NOW).expect("options");
    let registration = browser.create(&options).await.expect("created");
    let new = c
        .finish_registration(&reg_state, &registration, NOW)
        .expect("registered");

    let (options, auth_state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    // A registration state cannot finish a sign-in, nor the reverse.
    assert_eq!(
        c.finish_authentication(&reg_state, &assertion, &stored(&new), NOW)
            .unwrap_err(),
        PasskeyError::InvalidSession
    );
    assert_eq!(
        c.finish_registration(&auth_state, &registration, NOW)
            .unwrap_err(),
        PasskeyError::InvalidSession
    );
    assert!(
        c.finish_authentication(&auth_state, &assertion, &stored(&new), NOW)
            .is_ok()
    );
}

#[tokio::test]
async fn tampered_or_foreign_state_is_refused() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = browser.create(&options).await.expect("created");

    let mut forged = Vec::new();
    // Each character changed in turn (a few positions suffice to cover header, body, tag).
    for at in [0, 5, state.len() / 2, state.len() - 1] {
        let mut s = state.clone().into_bytes();
        s[at] = if s[at] == b'A' { b'B' } else { b'A' };
        forged.push(String::from_utf8(s).expect("ascii"));
    }
    forged.push(state[..state.len() - 1].to_owned());
    forged.push(state[..20].to_owned());
    forged.push(String::new());
    forged.push(format!("{state}AAAA"));
    forged.push("not base64url!".into());
    forged.push("A".repeat(100_000));
    for bad in &forged {
        assert_eq!(
            c.finish_registration(bad, &response, NOW).unwrap_err(),
            PasskeyError::InvalidSession,
            "{bad:.40}"
        );
        assert_eq!(
            c.ceremony_id(bad).unwrap_err(),
            PasskeyError::InvalidSession
        );
    }
    // Another deployment's key.
    let other = Ceremonies::new(settings(), [KEY[0] ^ 1; 32]).expect("valid settings");
    assert_eq!(
        other
            .finish_registration(&state, &response, NOW)
            .unwrap_err(),
        PasskeyError::InvalidSession
    );
    // The untouched state still works.
    assert!(c.finish_registration(&state, &response, NOW).is_ok());
}

// ---- challenges ----

#[tokio::test]
async fn assertion_for_another_challenge_is_refused() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let (options, _) = c.start_authentication(NOW).expect("options");
    let (_, other_state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    assert!(is_auth_failure(c.finish_authentication(
        &other_state,
        &assertion,
        &stored(&new),
        NOW
    )));
}

#[tokio::test]
async fn registration_for_another_challenge_is_refused() {
    let c = ceremonies(settings());
    let (options, _) = c.start_registration(&user(), &[], NOW).expect("options");
    let (_, other_state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = Browser::new(ORIGIN)
        .create(&options)
        .await
        .expect("created");
    let err = c
        .finish_registration(&other_state, &response, NOW)
        .unwrap_err();
    assert!(matches!(err, PasskeyError::InvalidResponse(_)), "{err:?}");
}

// ---- the stored passkey ----

#[tokio::test]
async fn assertion_must_match_the_stored_passkey() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let other = register(&c, &mut Browser::new(ORIGIN)).await;

    let mut wrong_key = stored(&new);
    wrong_key.public_key = other.public_key.clone();
    let mut wrong_id = stored(&new);
    wrong_id.credential_id = other.credential_id.clone();
    let mut wrong_user = stored(&new);
    wrong_user.user_handle = b"ffffffff-ffff-4fff-bfff-ffffffffffff".to_vec();
    let mut junk_key = stored(&new);
    junk_key.public_key = vec![0xa5, 0x01];
    let mut short_user = stored(&new);
    short_user.user_handle = b"42".to_vec();

    for bad in [wrong_key, wrong_id, wrong_user, junk_key, short_user] {
        let (options, state) = c.start_authentication(NOW).expect("options");
        let response = browser.get(&options).await.expect("signed");
        let assertion = c.read_assertion(&response).expect("parses");
        let result = c.finish_authentication(&state, &assertion, &bad, NOW);
        assert!(is_auth_failure(result), "{bad:?}");
    }
}

#[tokio::test]
async fn passkey_imported_from_pocket_id_verifies() {
    // Pocket ID exports the authenticator's COSE key as-is, and sign count 0. Rebuild ours in
    // another key order with an extra label, as another encoder could have written it.
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let (x, y) = (&new.public_key[10..42], &new.public_key[45..77]);
    let mut cose = vec![0xa6, 0x22, 0x58, 0x20];
    cose.extend_from_slice(y);
    cose.extend_from_slice(&[0x21, 0x58, 0x20]);
    cose.extend_from_slice(x);
    cose.extend_from_slice(&[0x03, 0x26, 0x01, 0x02, 0x20, 0x01, 0x02, 0x41, 0x07]);
    assert_ne!(cose, new.public_key);
    let imported = StoredPasskey {
        credential_id: new.credential_id.clone(),
        user_handle: USER_ID.as_bytes().to_vec(),
        public_key: cose,
        sign_count: 0,
        backup_eligible: true,
    };
    let (options, state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let assertion = c.read_assertion(&response).expect("parses");
    c.finish_authentication(&state, &assertion, &imported, NOW)
        .expect("imported passkey verifies");
}

// ---- malformed input ----

#[tokio::test]
async fn malformed_registration_is_an_invalid_response() {
    let c = ceremonies(settings());
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let good = Browser::new(ORIGIN)
        .create(&options)
        .await
        .expect("created");
    let good: Value = serde_json::from_slice(&good).expect("json");

    let mut bad: Vec<Vec<u8>> = [
        &b""[..],
        b"{",
        b"null",
        b"[]",
        b"{}",
        b"\xff\xfe\x00",
        br#"{"id":1}"#,
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    let mut mutate = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        bad.push(serde_json::to_vec(&v).expect("json"));
    };
    mutate(&|v| v["response"]["attestationObject"] = json!("%%%not-base64%%%"));
    mutate(&|v| v["response"]["attestationObject"] = json!(b64url(&[0xa3, 0x63, 0x66])));
    mutate(&|v| v["response"]["attestationObject"] = json!(b64url(&[0xbf; 64])));
    mutate(&|v| v["response"]["clientDataJSON"] = json!(b64url(b"{not json")));
    mutate(&|v| v["response"]["clientDataJSON"] = json!(12));
    mutate(&|v| v["rawId"] = json!(b64url(b"another id")));
    mutate(&|v| v["response"] = json!(null));
    mutate(&|v| v["type"] = json!("password"));
    mutate(&|v| v["clientExtensionResults"] = json!({ "credProps": { "rk": false } }));
    // Every truncation of the attestation object.
    let object = field(&good, "attestationObject");
    for n in (0..object.len()).step_by(7) {
        let cut = object[..n].to_vec();
        mutate(&move |v| v["response"]["attestationObject"] = json!(b64url(&cut)));
    }

    for body in &bad {
        let Err(err) = c.finish_registration(&state, body, NOW) else {
            panic!("accepted: {}", String::from_utf8_lossy(body));
        };
        assert!(
            matches!(err, PasskeyError::InvalidResponse(_)),
            "{err:?} for {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(80)
                .collect::<String>()
        );
        assert_eq!(err.code(), "invalid_webauthn_response");
    }
}

#[tokio::test]
async fn malformed_assertion_is_an_invalid_response() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let (options, state) = c.start_authentication(NOW).expect("options");
    let good = browser.get(&options).await.expect("signed");
    let good: Value = serde_json::from_slice(&good).expect("json");

    for body in [
        &b""[..],
        b"{",
        b"null",
        b"{}",
        b"\x00\x01",
        br#"{"response":{}}"#,
    ] {
        let err = c.read_assertion(body).unwrap_err();
        assert!(matches!(err, PasskeyError::InvalidResponse(_)), "{err:?}");
    }
    for edit in [
        &(|v: &mut Value| v["response"]["authenticatorData"] = json!("***")) as &dyn Fn(&mut Value),
        &|v| v["response"]["signature"] = json!(true),
        &|v| v["response"]["userHandle"] = json!(null),
        &|v| v["response"]["clientDataJSON"] = json!(b64url(b"[]")),
        &|v| v["response"]["authenticatorData"] = json!(b64url(&[1, 2, 3])),
        &|v| {
            v.as_object_mut()
                .map(|o| (o.remove("id"), o.remove("rawId")));
        },
        &|v| v["rawId"] = json!(b64url(b"another credential")),
    ] {
        let mut v = good.clone();
        edit(&mut v);
        let body = serde_json::to_vec(&v).expect("json");
        // Refused while reading, or at the latest while verifying; never a panic.
        let result = c
            .read_assertion(&body)
            .and_then(|a| c.finish_authentication(&state, &a, &stored(&new), NOW));
        assert!(
            matches!(
                result,
                Err(PasskeyError::InvalidResponse(_) | PasskeyError::AuthenticationFailed(_))
            ),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn foreign_or_missing_user_handle_is_an_unknown_passkey() {
    // A passkey some other software made for this RP ID, with an 8-byte user handle.
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    register(&c, &mut browser).await;
    let (options, _) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let mut v: Value = serde_json::from_slice(&response).expect("json");
    v["response"]["userHandle"] = json!(b64url(b"user-123"));
    let err = c
        .read_assertion(&serde_json::to_vec(&v).expect("json"))
        .unwrap_err();
    assert!(
        matches!(err, PasskeyError::AuthenticationFailed(_)),
        "{err:?}"
    );

    // No user handle at all (webauthn_rp 0.3.0 itself would panic on this one).
    v["response"]["userHandle"] = json!(null);
    let err = c
        .read_assertion(&serde_json::to_vec(&v).expect("json"))
        .unwrap_err();
    assert!(
        matches!(err, PasskeyError::AuthenticationFailed(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn odd_but_harmless_fields_do_not_panic() {
    // Relaxed parsing may accept or refuse these; it must answer, not crash.
    let odd = [
        json!({ "id": null }),
        json!({ "clientExtensionResults": { "prf": {} } }),
        json!({ "clientExtensionResults": { "prf": null } }),
        json!({ "clientExtensionResults": { "prf": { "enabled": null } } }),
        json!({ "clientExtensionResults": { "prf": { "enabled": true } } }),
        json!({ "clientExtensionResults": { "prf": { "results": { "first": "AAAA" } } } }),
        json!({ "clientExtensionResults": { "credProps": null } }),
        json!({ "clientExtensionResults": { "credProps": {} } }),
        json!({ "clientExtensionResults": { "unknown": [1, 2, 3] } }),
        json!({ "clientExtensionResults": null }),
        json!({ "clientExtensionResults": 7 }),
        json!({ "authenticatorAttachment": "cross-platform" }),
        json!({ "authenticatorAttachment": "elsewhere" }),
    ];
    let patch = |body: &[u8], changes: &Value| {
        let mut v: Value = serde_json::from_slice(body).expect("json");
        for (key, value) in changes.as_object().expect("object") {
            v[key] = value.clone();
        }
        serde_json::to_vec(&v).expect("json")
    };
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    for changes in &odd {
        let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
        let response = Browser::new(ORIGIN)
            .create(&options)
            .await
            .expect("created");
        let _ = c.finish_registration(&state, &patch(&response, changes), NOW);

        let (options, state) = c.start_authentication(NOW).expect("options");
        let response = browser.get(&options).await.expect("signed");
        let _ = c
            .read_assertion(&patch(&response, changes))
            .and_then(|a| c.finish_authentication(&state, &a, &stored(&new), NOW));
    }
}
