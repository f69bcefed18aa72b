//! Discoverable sign-in: request options, reading the assertion, verifying it.

use std::slice;

use latchkey_oidc::crypto;
use serde_json::Value;
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions,
    bin::{Decode as _, Encode as _},
    request::{
        BackupReq,
        auth::{
            AuthenticationVerificationOptions, AuthenticatorAttachmentEnforcement,
            SignatureCounterEnforcement,
        },
    },
    response::{
        AuthenticatorAttachment, Backup, CredentialId,
        auth::{
            AuthenticatorAssertion, DiscoverableAuthentication, NonDiscoverableAuthentication,
            error::AuthCeremonyErr,
        },
        register::{
            AuthenticatorExtensionOutputStaticState, CredentialProtectionPolicy, DynamicState,
            StaticState,
        },
    },
};

use super::register::{backup_flags, user_handle, uv_requirement};
use super::state::{self, Kind};
use super::{
    Ceremonies, PasskeyError, StoredPasskey, USER_HANDLE_LEN, VerifiedAssertion, cose, options,
};

/// A parsed AuthenticationResponseJSON, not yet verified.
#[derive(Debug)]
pub struct Assertion {
    credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    inner: DiscoverableAuthentication<USER_HANDLE_LEN>,
}

impl Assertion {
    /// The credential id (`rawId`) to look the passkey up by.
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The user handle: the user id's bytes.
    pub fn user_handle(&self) -> &[u8] {
        &self.user_handle
    }
}

pub(super) fn start(c: &Ceremonies, now: i64) -> Result<(Value, String), PasskeyError> {
    let mut opts = DiscoverableCredentialRequestOptions::passkey(&c.rp_id);
    opts.0.timeout = c.timeout_ms;
    opts.0.user_verification = uv_requirement(c.settings.user_verification);
    let challenge = opts.0.challenge.as_data().to_le_bytes();
    let (server, _) = opts
        .start_ceremony()
        .map_err(|e| PasskeyError::InvalidSettings(e.to_string()))?;
    let inner = server
        .encode()
        .map_err(|_| PasskeyError::InvalidSettings("system clock is before 1970".into()))?;
    let sealed = state::seal(
        &c.key,
        Kind::Authentication,
        challenge,
        c.expiry(now),
        &inner,
    );
    Ok((options::request(&c.settings, &challenge), sealed))
}

pub(super) fn read(response_json: &[u8]) -> Result<Assertion, PasskeyError> {
    // Parsed as non-discoverable and rebuilt: webauthn_rp 0.3.0 accepts `"userHandle": null`
    // for a discoverable assertion and then panics in `user_handle()`.
    let parsed =
        match NonDiscoverableAuthentication::<USER_HANDLE_LEN>::from_json_relaxed(response_json) {
            Ok(parsed) => parsed,
            Err(e) if has_foreign_user_handle(response_json) => {
                // A passkey for this RP ID made by other software: unknown here, not malformed.
                return Err(PasskeyError::AuthenticationFailed(format!(
                    "user handle is not one of ours: {e}"
                )));
            }
            Err(e) => return Err(PasskeyError::InvalidResponse(e.to_string())),
        };
    let response = parsed.response();
    let handle = *response.user_handle().ok_or_else(|| {
        // Only credentials created without a user id answer so; none of ours.
        PasskeyError::AuthenticationFailed("the passkey sent no user handle".into())
    })?;
    let inner = DiscoverableAuthentication::new(
        CredentialId::from(parsed.raw_id()),
        AuthenticatorAssertion::new(
            response.client_data_json().to_vec(),
            response.authenticator_data().to_vec(),
            response.signature().to_vec(),
            handle,
        ),
        parsed.authenticator_attachment(),
    );
    Ok(Assertion {
        credential_id: parsed.raw_id().as_ref().to_vec(),
        user_handle: handle.as_ref().to_vec(),
        inner,
    })
}

/// Whether the JSON carries a well-formed user handle of a length we never issue.
fn has_foreign_user_handle(response_json: &[u8]) -> bool {
    serde_json::from_slice::<Value>(response_json)
        .ok()
        .and_then(|v| {
            v.get("response")?
                .get("userHandle")?
                .as_str()
                .and_then(|s| crypto::b64url_decode(s).ok())
        })
        .is_some_and(|handle| !handle.is_empty() && handle.len() != USER_HANDLE_LEN)
}

pub(super) fn finish(
    c: &Ceremonies,
    sealed: &str,
    assertion: &Assertion,
    stored: &StoredPasskey,
    now: i64,
) -> Result<VerifiedAssertion, PasskeyError> {
    let opened = state::open_current(&c.key, Kind::Authentication, sealed, now)?;
    let server = DiscoverableAuthenticationServerState::decode(opened.inner.as_slice())
        .map_err(|_| PasskeyError::InvalidSession)?;
    let failed = |m: String| PasskeyError::AuthenticationFailed(m);
    let handle = user_handle(&stored.user_handle)
        .ok_or_else(|| failed("stored user handle has the wrong length".into()))?;
    let credential_id = CredentialId::try_from(stored.credential_id.as_slice())
        .map_err(|e| failed(format!("stored credential id: {e}")))?;
    let key = cose::decode(&stored.public_key)
        .and_then(cose::CoseKey::to_verifier)
        .map_err(|e| failed(format!("stored public key: {e}")))?;
    let mut credential = AuthenticatedCredential::new(
        credential_id,
        &handle,
        StaticState {
            credential_public_key: key,
            // Neither is stored (Pocket ID keeps neither); both only add checks we do not need.
            extensions: AuthenticatorExtensionOutputStaticState {
                cred_protect: CredentialProtectionPolicy::None,
                hmac_secret: None,
            },
        },
        DynamicState {
            // Starts false so that, with `update_uv`, it ends as this assertion's UV flag.
            user_verified: false,
            backup: if stored.backup_eligible {
                Backup::Eligible
            } else {
                Backup::NotEligible
            },
            sign_count: stored.sign_count,
            authenticator_attachment: AuthenticatorAttachment::None,
        },
    )
    .map_err(|e| failed(format!("stored passkey: {e}")))?;
    let verify_opts = AuthenticationVerificationOptions::<String, String> {
        allowed_origins: slice::from_ref(&c.settings.origin),
        allowed_top_origins: None,
        // A BE flag that changes is accepted and reported (KeePassDX, Pocket ID #1068 #768);
        // the synced policy is checked below.
        backup_requirement: Some(BackupReq::None),
        error_on_unsolicited_extensions: false,
        auth_attachment_enforcement: AuthenticatorAttachmentEnforcement::Ignore(false),
        update_uv: true,
        // Refuses new <= stored unless stored is 0: exactly our counter rule.
        sig_counter_enforcement: SignatureCounterEnforcement::Fail,
        client_data_json_relaxed: true,
    };
    server
        .verify(&c.rp_id, &assertion.inner, &mut credential, &verify_opts)
        .map_err(authentication_error)?;
    let dynamic = credential.dynamic_state();
    let (backup_eligible, backup_state) = backup_flags(dynamic.backup);
    if (backup_eligible || stored.backup_eligible) && !c.settings.allow_synced {
        return Err(PasskeyError::SyncedNotAllowed);
    }
    Ok(VerifiedAssertion {
        sign_count: dynamic.sign_count,
        backup_eligible,
        backup_state,
        user_verified: dynamic.user_verified,
    })
}

fn authentication_error(e: AuthCeremonyErr) -> PasskeyError {
    match e {
        AuthCeremonyErr::Timeout => PasskeyError::InvalidSession,
        AuthCeremonyErr::UserNotVerified => PasskeyError::UserVerificationRequired,
        AuthCeremonyErr::SignatureCounter => PasskeyError::CounterWentBack,
        AuthCeremonyErr::BackupEligible => PasskeyError::SyncedNotAllowed,
        other => PasskeyError::AuthenticationFailed(other.to_string()),
    }
}
