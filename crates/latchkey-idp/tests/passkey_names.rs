//! Passkey names from AAGUIDs, and the error codes the pages and API answer.

use latchkey_idp::passkey::{PasskeyError, passkey_name, provider_name};

fn aaguid(hex: &str) -> [u8; 16] {
    let digits: Vec<u8> = hex
        .bytes()
        .filter(|b| *b != b'-')
        .map(|b| (b as char).to_digit(16).expect("hex digit") as u8)
        .collect();
    let mut out = [0; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        out[i] = pair[0] << 4 | pair[1];
    }
    out
}

#[test]
fn known_providers_are_named() {
    let cases = [
        (
            "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
            "iCloud Keychain Passkey",
        ),
        (
            "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
            "Google Password Manager Passkey",
        ),
        (
            "08987058-cadc-4b81-b6e1-30de50dcbe96",
            "Windows Hello Passkey",
        ),
        ("d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden Passkey"),
        ("fdb141b2-5d84-443e-8a35-4698c205a502", "KeePassXC Passkey"),
        (
            "2fc0579f-8113-47ea-b116-bb5a8db9202a",
            "YubiKey 5 Series with NFC Passkey",
        ),
    ];
    for (id, name) in cases {
        assert_eq!(passkey_name(&aaguid(id)), name, "{id}");
    }
    assert_eq!(
        provider_name(&aaguid("bada5566-a7aa-401f-bd96-45619a55120d")),
        Some("1Password")
    );
}

#[test]
fn unknown_and_zero_aaguids_are_new_passkeys() {
    assert_eq!(passkey_name(&[0; 16]), "New Passkey");
    assert_eq!(
        passkey_name(&aaguid("01234567-89ab-cdef-0123-456789abcdef")),
        "New Passkey"
    );
    assert_eq!(provider_name(&[0xff; 16]), None);
}

#[test]
fn errors_carry_pocket_id_codes() {
    let cases = [
        (
            PasskeyError::InvalidSession,
            "invalid_webauthn_session",
            400,
        ),
        (
            PasskeyError::InvalidResponse("x".into()),
            "invalid_webauthn_response",
            400,
        ),
        (
            PasskeyError::AuthenticationFailed("x".into()),
            "webauthn_authentication_failed",
            401,
        ),
        (
            PasskeyError::CounterWentBack,
            "webauthn_authentication_failed",
            401,
        ),
        (
            PasskeyError::UserVerificationRequired,
            "passkey_user_verification_required",
            400,
        ),
        (
            PasskeyError::SyncedNotAllowed,
            "synced_passkey_not_allowed",
            400,
        ),
    ];
    for (err, code, status) in cases {
        assert_eq!((err.code(), err.status()), (code, status), "{err}");
    }
}
