//! Errors of the passkey ceremonies, with the codes and statuses Pocket ID answers.

/// Why a passkey ceremony failed. Messages carry no secrets; they are for the log, and the
/// client sees only [`PasskeyError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// The ceremony state is missing, expired, tampered with, of the other kind, or unreadable.
    #[error("the passkey ceremony is unknown or has expired")]
    InvalidSession,
    /// The browser's JSON (or the CBOR and base64url inside it) could not be read, or the
    /// registration it describes is not acceptable.
    #[error("invalid passkey response: {0}")]
    InvalidResponse(String),
    /// The assertion did not verify: wrong signature, origin, RP ID, challenge, credential or user.
    #[error("passkey authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The authenticator did not verify the user (no PIN or biometric) while it was required.
    #[error("the authenticator did not verify the user")]
    UserVerificationRequired,
    /// A backup-eligible (synced) passkey was used while only device-bound ones are allowed.
    #[error("synced passkeys are not allowed")]
    SyncedNotAllowed,
    /// The signature counter did not grow: the passkey may have been cloned.
    #[error("the signature counter went backwards")]
    CounterWentBack,
    /// The settings cannot work (RP ID not a domain, origin not matching it). Found at start-up.
    #[error("invalid passkey settings: {0}")]
    InvalidSettings(String),
    /// The person's id cannot be a user handle of this deployment (it must be a 36-byte UUID).
    #[error("invalid passkey user: {0}")]
    InvalidUser(String),
}

impl PasskeyError {
    /// The error code Pocket ID's frontend knows.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSession => "invalid_webauthn_session",
            Self::InvalidResponse(_) => "invalid_webauthn_response",
            Self::AuthenticationFailed(_) | Self::CounterWentBack => {
                "webauthn_authentication_failed"
            }
            Self::UserVerificationRequired => "passkey_user_verification_required",
            Self::SyncedNotAllowed => "synced_passkey_not_allowed",
            Self::InvalidSettings(_) | Self::InvalidUser(_) => "internal_server_error",
        }
    }

    /// The HTTP status that goes with [`PasskeyError::code`].
    pub fn status(&self) -> u16 {
        match self {
            Self::AuthenticationFailed(_) | Self::CounterWentBack => 401,
            Self::InvalidSettings(_) | Self::InvalidUser(_) => 500,
            Self::InvalidSession
            | Self::InvalidResponse(_)
            | Self::UserVerificationRequired
            | Self::SyncedNotAllowed => 400,
        }
    }
}
