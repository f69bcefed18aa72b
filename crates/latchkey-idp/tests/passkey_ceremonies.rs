//! Registration and sign-in round trips with a software authenticator.

mod passkey_support;

use latchkey_idp::passkey::{
    Ceremonies, PasskeySettings, StoredPasskey, USER_HANDLE_LEN, VerifiedAssertion,
};
use passkey_crypto::iana::Algorithm;
use passkey_support::{Browser, NOW, ORIGIN, USER_ID, ceremonies, settings, user};

/// Registers a passkey and signs in with it; returns what was stored and the sign-in result.
async fn round_trip(
    c: &Ceremonies,
    browser: &mut Browser,
) -> (latchkey_idp::passkey::NewPasskey, VerifiedAssertion) {
    let (options, state) = c.start_registration(&user(), &[], NOW).expect("options");
    let response = browser
        .create(&options)
        .await
        .expect("authenticator creates");
    let new = c
        .finish_registration(&state, &response, NOW + 1)
        .expect("registration verifies");

    let (options, state) = c.start_authentication(NOW + 2).expect("options");
    let response = browser.get(&options).await.expect("authenticator signs");
    let assertion = c.read_assertion(&response).expect("assertion parses");
    assert_eq!(assertion.credential_id(), new.credential_id.as_slice());
    assert_eq!(assertion.user_handle(), USER_ID.as_bytes());
    let stored = StoredPasskey {
        credential_id: new.credential_id.clone(),
        user_handle: new.user_handle.clone(),
        public_key: new.public_key.clone(),
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
    };
    let verified = c
        .finish_authentication(&state, &assertion, &stored, NOW + 3)
        .expect("assertion verifies");
    (new, verified)
}

#[tokio::test]
async fn es256_passkey_registers_and_signs_in() {
    let c = ceremonies(settings());
    let mut browser = Browser::new(ORIGIN);
    let (new, verified) = round_trip(&c, &mut browser).await;

    assert_eq!(new.user_handle, USER_ID.as_bytes());
    assert_eq!(new.user_handle.len(), USER_HANDLE_LEN);
    assert!(!new.credential_id.is_empty());
    // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}, canonical.
    assert_eq!(
        &new.public_key[..7],
        &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]
    );
    assert_eq!(new.public_key.len(), 77);
    assert_eq!(new.sign_count, 0);
    assert!(new.user_verified);
    // passkey-authenticator behaves as a synced provider: BE and BS set.
    assert!(new.backup_eligible && new.backup_state);
    assert_eq!(new.transports, ["hybrid", "internal"]);
    assert_eq!(new.aaguid, [0; 16]);
    assert_eq!(new.suggested_name, "New Passkey");

    assert_eq!(
        verified,
        VerifiedAssertion {
            sign_count: 0,
            backup_eligible: true,
            backup_state: true,
            user_verified: true,
        }
    );
}

#[tokio::test]
async fn eddsa_passkey_registers_and_signs_in() {
    let c = ceremonies(settings());
    let mut browser = Browser::with(ORIGIN, Algorithm::EdDSA, false, [0; 16]);
    let (new, verified) = round_trip(&c, &mut browser).await;
    // COSE_Key {1: 1 (OKP), 3: -8 (EdDSA), -1: 6 (Ed25519), -2: x}.
    assert_eq!(
        &new.public_key[..7],
        &[0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06]
    );
    assert_eq!(new.public_key.len(), 42);
    assert!(verified.user_verified);
}

#[tokio::test]
async fn works_on_http_localhost() {
    // The zero-config server: RP ID "localhost", origin http://localhost:1411.
    let c = ceremonies(PasskeySettings::default());
    let mut browser = Browser::new("http://localhost:1411");
    let (new, _) = round_trip(&c, &mut browser).await;
    assert_eq!(new.user_handle, USER_ID.as_bytes());
}

#[tokio::test]
async fn known_authenticator_names_the_passkey() {
    // 1Password's AAGUID bada5566-a7aa-401f-bd96-45619a55120d.
    let aaguid = [
        0xba, 0xda, 0x55, 0x66, 0xa7, 0xaa, 0x40, 0x1f, 0xbd, 0x96, 0x45, 0x61, 0x9a, 0x55, 0x12,
        0x0d,
    ];
    let c = ceremonies(settings());
    let mut browser = Browser::with(ORIGIN, Algorithm::ES256, false, aaguid);
    let (new, _) = round_trip(&c, &mut browser).await;
    assert_eq!(new.aaguid, aaguid);
    assert_eq!(new.suggested_name, "1Password Passkey");
}

#[tokio::test]
async fn signature_counter_is_reported() {
    let c = ceremonies(settings());
    let mut browser = Browser::with(ORIGIN, Algorithm::ES256, true, [0; 16]);
    let (new, verified) = round_trip(&c, &mut browser).await;
    assert_eq!(new.sign_count, 0);
    assert_eq!(verified.sign_count, 1);
}

#[test]
fn ceremony_id_is_stable_and_distinct() {
    let c = ceremonies(settings());
    let (_, reg) = c.start_registration(&user(), &[], NOW).expect("options");
    let (_, auth) = c.start_authentication(NOW).expect("options");
    let (reg_id, reg_expiry) = c.ceremony_id(&reg).expect("id");
    let (auth_id, auth_expiry) = c.ceremony_id(&auth).expect("id");
    assert_eq!(c.ceremony_id(&reg).expect("id").0, reg_id);
    assert_ne!(reg_id, auth_id);
    assert_eq!(reg_id.len(), 64);
    assert_eq!(reg_expiry, NOW + 60);
    assert_eq!(auth_expiry, NOW + 60);
    // Another deployment's key cannot open it.
    let other = Ceremonies::new(settings(), [1; 32]).expect("valid settings");
    assert!(other.ceremony_id(&reg).is_err());
}
