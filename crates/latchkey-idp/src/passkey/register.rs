//! Registration: creation options and verification of the new credential.

use std::slice;

use serde_json::Value;
use webauthn_rp::{
    PublicKeyCredentialCreationOptions, Registration, RegistrationServerState,
    bin::{Decode as _, Encode as _},
    request::{
        BackupReq, ExtensionReq, UserVerificationRequirement,
        register::{
            AuthenticatorAttachmentReq, CredProtect, CrossPlatformHint, Extension, PlatformHint,
            PublicKeyCredentialUserEntity, RegistrationVerificationOptions, UserHandle,
        },
    },
    response::{AuthTransports, AuthenticatorTransport, Backup, register::error::RegCeremonyErr},
};

use super::state::{self, Kind};
use super::{
    Attachment, Ceremonies, NewPasskey, PasskeyError, PasskeyUser, USER_HANDLE_LEN,
    UserVerification, options, passkey_name,
};

pub(super) fn start(
    c: &Ceremonies,
    user: &PasskeyUser,
    exclude: &[Vec<u8>],
    now: i64,
) -> Result<(Value, String), PasskeyError> {
    let handle = user_handle(user.id.as_bytes())
        .ok_or_else(|| PasskeyError::InvalidUser(format!("user id {:?} is not a UUID", user.id)))?;
    // Names are not part of the server state; the JSON carries the real ones (see options.rs).
    let mut opts = PublicKeyCredentialCreationOptions::passkey(
        &c.rp_id,
        PublicKeyCredentialUserEntity::from(&handle),
        Vec::new(),
    );
    opts.timeout = c.timeout_ms;
    opts.authenticator_selection.user_verification = uv_requirement(c.settings.user_verification);
    opts.authenticator_selection.authenticator_attachment = match c.settings.attachment {
        Attachment::Any => AuthenticatorAttachmentReq::default(),
        Attachment::Platform => AuthenticatorAttachmentReq::Platform(PlatformHint::None),
        Attachment::CrossPlatform => {
            AuthenticatorAttachmentReq::CrossPlatform(CrossPlatformHint::None)
        }
    };
    // Exactly what the JSON asks for: credProps, and no credProtect (Pocket ID sends none).
    opts.extensions = Extension {
        cred_props: Some(ExtensionReq::Allow),
        cred_protect: CredProtect::None,
        min_pin_length: None,
        prf: None,
    };
    let challenge = opts.challenge.as_data().to_le_bytes();
    let (server, _) = opts
        .start_ceremony()
        .map_err(|e| PasskeyError::InvalidSettings(e.to_string()))?;
    let inner = server
        .encode()
        .map_err(|_| PasskeyError::InvalidSettings("system clock is before 1970".into()))?;
    let sealed = state::seal(&c.key, Kind::Registration, challenge, c.expiry(now), &inner);
    let json = options::creation(&c.settings, user, exclude, &challenge);
    Ok((json, sealed))
}

pub(super) fn finish(
    c: &Ceremonies,
    sealed: &str,
    response_json: &[u8],
    now: i64,
) -> Result<NewPasskey, PasskeyError> {
    let opened = state::open_current(&c.key, Kind::Registration, sealed, now)?;
    let server = RegistrationServerState::<USER_HANDLE_LEN>::decode(opened.inner.as_slice())
        .map_err(|_| PasskeyError::InvalidSession)?;
    let registration = Registration::from_json_relaxed(response_json)
        .map_err(|e| PasskeyError::InvalidResponse(e.to_string()))?;
    let verify_opts = RegistrationVerificationOptions::<String, String> {
        allowed_origins: slice::from_ref(&c.settings.origin),
        allowed_top_origins: None,
        // Checked below, to answer Pocket ID's own error.
        backup_requirement: BackupReq::None,
        // Authenticators add extensions nobody asked for (credProtect, hmac-secret); harmless.
        error_on_unsolicited_extensions: false,
        require_authenticator_attachment: false,
        client_data_json_relaxed: true,
    };
    let credential = server
        .verify(&c.rp_id, &registration, &verify_opts)
        .map_err(registration_error)?;
    let (id, transports, user_id, static_state, dynamic, metadata) = credential.into_parts();
    let (backup_eligible, backup_state) = backup_flags(dynamic.backup);
    if backup_eligible && !c.settings.allow_synced {
        return Err(PasskeyError::SyncedNotAllowed);
    }
    let aaguid: [u8; 16] = metadata
        .aaguid
        .data()
        .try_into()
        .map_err(|_| PasskeyError::InvalidResponse("AAGUID is not 16 bytes".into()))?;
    Ok(NewPasskey {
        credential_id: id.as_ref().to_vec(),
        user_handle: user_id.as_ref().to_vec(),
        public_key: super::cose::encode(static_state.credential_public_key),
        sign_count: dynamic.sign_count,
        backup_eligible,
        backup_state,
        user_verified: dynamic.user_verified,
        transports: transport_names(transports),
        aaguid,
        suggested_name: passkey_name(&aaguid),
    })
}

/// The user handle for a user id, if it has the one length we use.
pub(super) fn user_handle(id: &[u8]) -> Option<UserHandle<USER_HANDLE_LEN>> {
    <[u8; USER_HANDLE_LEN]>::try_from(id)
        .ok()
        .map(UserHandle::from)
}

pub(super) fn uv_requirement(uv: UserVerification) -> UserVerificationRequirement {
    match uv {
        UserVerification::Required => UserVerificationRequirement::Required,
        UserVerification::Preferred => UserVerificationRequirement::Preferred,
    }
}

/// (backup eligible, backed up) from the BE and BS flags.
pub(super) fn backup_flags(backup: Backup) -> (bool, bool) {
    match backup {
        Backup::NotEligible => (false, false),
        Backup::Eligible => (true, false),
        Backup::Exists => (true, true),
    }
}

fn transport_names(transports: AuthTransports) -> Vec<String> {
    [
        (AuthenticatorTransport::Ble, "ble"),
        (AuthenticatorTransport::Hybrid, "hybrid"),
        (AuthenticatorTransport::Internal, "internal"),
        (AuthenticatorTransport::Nfc, "nfc"),
        (AuthenticatorTransport::SmartCard, "smart-card"),
        (AuthenticatorTransport::Usb, "usb"),
    ]
    .into_iter()
    .filter(|(t, _)| transports.contains(*t))
    .map(|(_, name)| name.to_owned())
    .collect()
}

fn registration_error(e: RegCeremonyErr) -> PasskeyError {
    match e {
        RegCeremonyErr::Timeout => PasskeyError::InvalidSession,
        RegCeremonyErr::UserNotVerified => PasskeyError::UserVerificationRequired,
        RegCeremonyErr::BackupEligible => PasskeyError::SyncedNotAllowed,
        other => PasskeyError::InvalidResponse(other.to_string()),
    }
}
