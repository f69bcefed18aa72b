//! The options JSON handed to `navigator.credentials.create/get`, shaped as Pocket ID's
//! (go-webauthn's `CredentialCreation` / `CredentialAssertion`): `{"publicKey": {...}}` with
//! base64url binary fields, ready for `PublicKeyCredential.parse*OptionsFromJSON`.
//!
//! We write the JSON ourselves rather than serialising `webauthn_rp`'s client state so that the
//! user's name and display name go out as the directory has them (webauthn_rp would require
//! PRECIS-clean names), and so the fields match Pocket ID's exactly.

use latchkey_oidc::crypto::b64url;
use serde_json::{Value, json};

use super::{Attachment, PasskeySettings, PasskeyUser, UserVerification};

/// COSE algorithms `webauthn_rp` verifies, in Pocket ID's order of preference:
/// ES256, ES384, RS256, EdDSA (go-webauthn also lists ES512, RS384/512 and PS*, which
/// webauthn_rp cannot verify; no current passkey provider needs them).
pub(crate) const ALGORITHMS: [i64; 4] = [-7, -35, -257, -8];

fn user_verification(uv: UserVerification) -> &'static str {
    match uv {
        UserVerification::Required => "required",
        UserVerification::Preferred => "preferred",
    }
}

fn timeout_ms(settings: &PasskeySettings) -> u64 {
    u64::try_from(settings.timeout.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn creation(
    settings: &PasskeySettings,
    user: &PasskeyUser,
    exclude: &[Vec<u8>],
    challenge: &[u8],
) -> Value {
    let mut selection = json!({
        "residentKey": "required",
        "requireResidentKey": true,
        "userVerification": user_verification(settings.user_verification),
    });
    let attachment = match settings.attachment {
        Attachment::Any => None,
        Attachment::Platform => Some("platform"),
        Attachment::CrossPlatform => Some("cross-platform"),
    };
    if let (Some(a), Some(obj)) = (attachment, selection.as_object_mut()) {
        obj.insert("authenticatorAttachment".into(), a.into());
    }
    let display_name = if user.display_name.is_empty() {
        &user.name
    } else {
        &user.display_name
    };
    let mut public_key = json!({
        "rp": { "name": settings.rp_name, "id": settings.rp_id },
        "user": {
            "name": user.name,
            "displayName": display_name,
            "id": b64url(user.id.as_bytes()),
        },
        "challenge": b64url(challenge),
        "pubKeyCredParams": ALGORITHMS
            .iter()
            .map(|alg| json!({ "type": "public-key", "alg": alg }))
            .collect::<Vec<_>>(),
        "timeout": timeout_ms(settings),
        "authenticatorSelection": selection,
        "attestation": "none",
        "extensions": { "credProps": true },
    });
    // Omitted when empty, like go-webauthn's `omitempty`.
    if let (false, Some(obj)) = (exclude.is_empty(), public_key.as_object_mut()) {
        let list: Vec<Value> = exclude
            .iter()
            .map(|id| json!({ "type": "public-key", "id": b64url(id) }))
            .collect();
        obj.insert("excludeCredentials".into(), list.into());
    }
    json!({ "publicKey": public_key })
}

/// Discoverable (usernameless) sign-in: no `allowCredentials`.
pub(crate) fn request(settings: &PasskeySettings, challenge: &[u8]) -> Value {
    json!({
        "publicKey": {
            "challenge": b64url(challenge),
            "timeout": timeout_ms(settings),
            "rpId": settings.rp_id,
            "userVerification": user_verification(settings.user_verification),
        }
    })
}
