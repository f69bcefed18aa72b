//! User verification, synced passkeys and the signature counter.

mod passkey_support;

use latchkey_idp::passkey::{
    Ceremonies, NewPasskey, PasskeyError, PasskeySettings, StoredPasskey, UserVerification,
};
use passkey_crypto::iana::Algorithm;
use passkey_support::{
    BE, BS, Browser, NOW, ORIGIN, UV, ceremonies, edit_registration, set_counter, set_flags,
    settings, user, with_option,
};
use serde_json::json;

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

/// Signs in, letting the test change the browser's response first.
async fn sign_in(
    c: &Ceremonies,
    browser: &mut Browser,
    stored: &StoredPasskey,
    edit: impl FnOnce(&Browser, Vec<u8>) -> Vec<u8>,
) -> Result<latchkey_idp::passkey::VerifiedAssertion, PasskeyError> {
    let (options, state) = c.start_authentication(NOW).expect("options");
    let response = browser.get(&options).await.expect("signed");
    let response = edit(browser, response);
    let assertion = c.read_assertion(&response)?;
    c.finish_authentication(&state, &assertion, stored, NOW)
}

fn unchanged(_: &Browser, response: Vec<u8>) -> Vec<u8> {
    response
}

fn settings_with(uv: UserVerification, allow_synced: bool) -> PasskeySettings {
    PasskeySettings {
        user_verification: uv,
        allow_synced,
        ..settings()
    }
}

// ---- user verification ----

/// Registers with an authenticator that was told UV is discouraged: UV flag 0.
async fn register_without_uv(c: &Ceremonies) -> Result<NewPasskey, PasskeyError> {
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let options = with_option(
        &options,
        &["authenticatorSelection", "userVerification"],
        json!("discouraged"),
    );
    let response = Browser::new(ORIGIN)
        .create(&options)
        .await
        .expect("created");
    c.finish_registration(&state, &response, NOW)
}

#[tokio::test]
async fn registration_without_uv_is_refused_when_required() {
    let c = ceremonies(settings_with(UserVerification::Required, true));
    let err = register_without_uv(&c).await.unwrap_err();
    assert_eq!(err, PasskeyError::UserVerificationRequired);
    assert_eq!(err.code(), "passkey_user_verification_required");
}

#[tokio::test]
async fn registration_without_uv_is_accepted_when_preferred() {
    let c = ceremonies(settings_with(UserVerification::Preferred, true));
    let new = register_without_uv(&c).await.expect("accepted");
    assert!(!new.user_verified);
}

#[tokio::test]
async fn sign_in_without_uv_is_refused_when_required() {
    let c = ceremonies(settings_with(UserVerification::Required, true));
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let no_uv = |b: &Browser, r: Vec<u8>| b.resign(&r, |ad| set_flags(ad, 0, UV));
    let err = sign_in(&c, &mut browser, &stored(&new), no_uv)
        .await
        .unwrap_err();
    assert_eq!(err, PasskeyError::UserVerificationRequired);
}

#[tokio::test]
async fn sign_in_without_uv_is_accepted_when_preferred() {
    let c = ceremonies(settings_with(UserVerification::Preferred, true));
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let no_uv = |b: &Browser, r: Vec<u8>| b.resign(&r, |ad| set_flags(ad, 0, UV));
    let verified = sign_in(&c, &mut browser, &stored(&new), no_uv)
        .await
        .expect("accepted");
    assert!(!verified.user_verified);
    // And the resigning itself is sound: the same edit with UV kept verifies with UV.
    let keep = |b: &Browser, r: Vec<u8>| b.resign(&r, |_| {});
    assert!(
        sign_in(&c, &mut browser, &stored(&new), keep)
            .await
            .expect("ok")
            .user_verified
    );
}

// ---- synced passkeys ----

#[tokio::test]
async fn synced_passkey_is_refused_at_registration_when_not_allowed() {
    // The software authenticator reports BE=1 BS=1, like a synced provider.
    let c = ceremonies(settings_with(UserVerification::Required, false));
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = Browser::new(ORIGIN)
        .create(&options)
        .await
        .expect("created");
    let err = c.finish_registration(&state, &response, NOW).unwrap_err();
    assert_eq!(err, PasskeyError::SyncedNotAllowed);
    assert_eq!(err.code(), "synced_passkey_not_allowed");

    // Backup-eligible but not yet backed up is still synced.
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = Browser::new(ORIGIN)
        .create(&options)
        .await
        .expect("created");
    let response = edit_registration(&response, |ad| set_flags(ad, 0, BS));
    let err = c.finish_registration(&state, &response, NOW).unwrap_err();
    assert_eq!(err, PasskeyError::SyncedNotAllowed);
}

#[tokio::test]
async fn device_bound_passkey_is_accepted_when_synced_not_allowed() {
    let c = ceremonies(settings_with(UserVerification::Required, false));
    let mut browser = Browser::new(ORIGIN);
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = browser.create(&options).await.expect("created");
    let response = edit_registration(&response, |ad| set_flags(ad, 0, BE | BS));
    let new = c
        .finish_registration(&state, &response, NOW)
        .expect("accepted");
    assert!(!new.backup_eligible && !new.backup_state);

    let bound = |b: &Browser, r: Vec<u8>| b.resign(&r, |ad| set_flags(ad, 0, BE | BS));
    let verified = sign_in(&c, &mut browser, &stored(&new), bound)
        .await
        .expect("accepted");
    assert!(!verified.backup_eligible);
}

#[tokio::test]
async fn synced_passkey_is_refused_at_sign_in_when_not_allowed() {
    // Registered while synced passkeys were allowed; the policy changed since.
    let mut browser = Browser::new(ORIGIN);
    let allowing = ceremonies(settings_with(UserVerification::Required, true));
    let new = register(&allowing, &mut browser).await;
    assert!(new.backup_eligible);
    assert!(
        sign_in(&allowing, &mut browser, &stored(&new), unchanged)
            .await
            .is_ok()
    );

    let refusing = ceremonies(settings_with(UserVerification::Required, false));
    let err = sign_in(&refusing, &mut browser, &stored(&new), unchanged)
        .await
        .unwrap_err();
    assert_eq!(err, PasskeyError::SyncedNotAllowed);

    // Stored as device-bound, but the authenticator now says BE=1.
    let mut bound = stored(&new);
    bound.backup_eligible = false;
    let err = sign_in(&refusing, &mut browser, &bound, unchanged)
        .await
        .unwrap_err();
    assert_eq!(err, PasskeyError::SyncedNotAllowed);
}

#[tokio::test]
async fn backup_eligibility_change_is_accepted_and_reported_when_synced_allowed() {
    // KeePassDX flips BE between ceremonies (Pocket ID #1068, #768); we do not refuse it.
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    let bound = |b: &Browser, r: Vec<u8>| b.resign(&r, |ad| set_flags(ad, 0, BE | BS));
    let verified = sign_in(&c, &mut browser, &stored(&new), bound)
        .await
        .expect("accepted");
    assert!(!verified.backup_eligible && !verified.backup_state);
}

// ---- signature counter ----

async fn counting_passkey(c: &Ceremonies) -> (Browser, NewPasskey) {
    let mut browser = Browser::with(ORIGIN, Algorithm::ES256, true, [0; 16]);
    let new = register(c, &mut browser).await;
    (browser, new)
}

#[tokio::test]
async fn counter_must_grow() {
    let c = ceremonies(settings());
    let (mut browser, new) = counting_passkey(&c).await;

    // Stored 1, new 1: equal and non-zero.
    let mut seen_once = stored(&new);
    seen_once.sign_count = 1;
    let err = sign_in(&c, &mut browser, &seen_once, unchanged)
        .await
        .unwrap_err();
    assert_eq!(err, PasskeyError::CounterWentBack);
    assert_eq!(err.code(), "webauthn_authentication_failed");
    assert_eq!(err.status(), 401);

    // Stored 9, new 2 (the authenticator counted the refused attempt too).
    let mut ahead = stored(&new);
    ahead.sign_count = 9;
    let err = sign_in(&c, &mut browser, &ahead, unchanged)
        .await
        .unwrap_err();
    assert_eq!(err, PasskeyError::CounterWentBack);

    // Stored 0, new 3: accepted and reported.
    let verified = sign_in(&c, &mut browser, &stored(&new), unchanged)
        .await
        .expect("accepted");
    assert_eq!(verified.sign_count, 3);

    // Stored 3, new 4: accepted.
    let mut current = stored(&new);
    current.sign_count = 3;
    let verified = sign_in(&c, &mut browser, &current, unchanged)
        .await
        .expect("accepted");
    assert_eq!(verified.sign_count, 4);
}

#[tokio::test]
async fn counter_falling_to_zero_is_refused() {
    let c = ceremonies(settings());
    let (mut browser, new) = counting_passkey(&c).await;
    let mut seen = stored(&new);
    seen.sign_count = 7;
    let zero = |b: &Browser, r: Vec<u8>| b.resign(&r, |ad| set_counter(ad, 0));
    let err = sign_in(&c, &mut browser, &seen, zero).await.unwrap_err();
    assert_eq!(err, PasskeyError::CounterWentBack);
}

#[tokio::test]
async fn authenticators_without_counter_sign_in_repeatedly() {
    // Counter 0 stored and 0 sent: "no counter", as synced and imported passkeys are.
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let new = register(&c, &mut browser).await;
    assert_eq!(new.sign_count, 0);
    for _ in 0..3 {
        let verified = sign_in(&c, &mut browser, &stored(&new), unchanged)
            .await
            .expect("accepted");
        assert_eq!(verified.sign_count, 0);
    }
}
