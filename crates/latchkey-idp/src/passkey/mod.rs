//! The WebAuthn core of the idp role: passkey registration and discoverable sign-in, verified
//! with `webauthn_rp`, with Pocket ID's options, policies and error codes.
//!
//! Pure library code: no HTTP, no store. A ceremony's state travels sealed in a cookie value
//! (see [`Ceremonies::ceremony_id`] for single use); the caller loads and saves passkeys.
//!
//! User handles are the user id's UTF-8 bytes, as in Pocket ID, and our user ids are UUID
//! strings, so a user handle is always 36 bytes long.

mod aaguid;
mod authenticate;
mod cose;
mod error;
mod options;
mod register;
mod state;

use std::num::NonZeroU32;
use std::time::Duration;

use latchkey_oidc::crypto::MasterKey;
use serde_json::Value;
use webauthn_rp::request::{AsciiDomain, RpId};

pub use aaguid::{passkey_name, provider_name};
pub use authenticate::Assertion;
pub use error::PasskeyError;

/// Length of every user handle: a UUID string (see the module documentation).
pub const USER_HANDLE_LEN: usize = 36;

/// Whether the authenticator must verify the person (PIN, biometrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserVerification {
    /// Pocket ID's default: an assertion without the UV flag is refused.
    #[default]
    Required,
    /// `WEBAUTHN_USER_VERIFICATION=preferred`: asked for, not enforced.
    Preferred,
}

/// Which authenticators may create passkeys (`WEBAUTHN_AUTHENTICATOR_ATTACHMENT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Attachment {
    /// No preference; the option is left out of the JSON.
    #[default]
    Any,
    /// Built into the device (Touch ID, Windows Hello, a phone's screen lock).
    Platform,
    /// Roaming (security keys, a phone over hybrid).
    CrossPlatform,
}

/// Relying-party settings, derived from the public URL and Pocket ID's `WEBAUTHN_*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySettings {
    /// Host of the public URL ("localhost", "id.example.com").
    pub rp_id: String,
    /// Origin of the public URL, compared exactly ("https://id.example.com").
    pub origin: String,
    /// Name shown by the authenticator ("Latchkey").
    pub rp_name: String,
    pub user_verification: UserVerification,
    pub attachment: Attachment,
    /// `false` refuses backup-eligible (synced) passkeys at registration and at sign-in.
    pub allow_synced: bool,
    /// Lifetime of both ceremonies (Pocket ID: 60 s).
    pub timeout: Duration,
}

impl Default for PasskeySettings {
    /// The zero-config server: http://localhost:1411.
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            origin: "http://localhost:1411".into(),
            rp_name: "Latchkey".into(),
            user_verification: UserVerification::Required,
            attachment: Attachment::Any,
            allow_synced: true,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The person a passkey is being created for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUser {
    /// User id; `user.id` in the options is its UTF-8 bytes, base64url.
    pub id: String,
    /// Username.
    pub name: String,
    /// Display name (the caller picks display name, else "First Last", else username);
    /// empty falls back to `name`.
    pub display_name: String,
}

/// A passkey that passed registration, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    pub credential_id: Vec<u8>,
    /// The user id's bytes, as sent in the options.
    pub user_handle: Vec<u8>,
    /// The COSE_Key (CTAP2 canonical CBOR), the format Pocket ID stores and exports.
    pub public_key: Vec<u8>,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub user_verified: bool,
    /// Transport hints ("internal", "hybrid", "usb", "nfc", "ble", "smart-card").
    pub transports: Vec<String>,
    pub aaguid: [u8; 16],
    /// "<provider> Passkey" or "New Passkey", see [`passkey_name`].
    pub suggested_name: String,
}

/// What the caller stored for a passkey; enough to verify a sign-in with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    /// A COSE_Key: ours, or one imported from Pocket ID.
    pub public_key: Vec<u8>,
    /// 0 means "no counter", as for imported passkeys and most synced ones.
    pub sign_count: u32,
    pub backup_eligible: bool,
}

/// A verified sign-in. The caller stores `sign_count` and the backup flags back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub user_verified: bool,
}

/// Starts and finishes passkey ceremonies for one relying party.
#[derive(Debug)]
pub struct Ceremonies {
    settings: PasskeySettings,
    key: MasterKey,
    rp_id: RpId,
    timeout_ms: NonZeroU32,
}

impl Ceremonies {
    /// Checks the settings once: the RP ID must be a domain, the origin an http(s) origin whose
    /// host is the RP ID or below it, the timeout between 1 ms and ~49 days. `key` seals
    /// ceremony states; it must be secret and the same on every replica.
    pub fn new(mut settings: PasskeySettings, key: [u8; 32]) -> Result<Self, PasskeyError> {
        let invalid = |m: String| PasskeyError::InvalidSettings(m);
        let domain = AsciiDomain::try_from(settings.rp_id.clone())
            .map_err(|e| invalid(format!("RP ID {:?}: {e}", settings.rp_id)))?;
        settings.rp_id = domain.as_ref().to_owned();
        settings.origin = checked_origin(&settings.origin, &settings.rp_id).map_err(invalid)?;
        let timeout_ms = u32::try_from(settings.timeout.as_millis())
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or_else(|| invalid(format!("timeout {:?} out of range", settings.timeout)))?;
        let key = MasterKey::from_bytes(&key).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            settings,
            key,
            rp_id: RpId::Domain(domain),
            timeout_ms,
        })
    }

    /// The settings in effect (RP ID lowercased, origin normalised).
    pub fn settings(&self) -> &PasskeySettings {
        &self.settings
    }

    /// Options `{"publicKey": PublicKeyCredentialCreationOptionsJSON}` and the sealed state for
    /// an HttpOnly cookie. `exclude` lists the person's existing credential ids.
    pub fn start_registration(
        &self,
        user: &PasskeyUser,
        exclude: &[Vec<u8>],
        now: i64,
    ) -> Result<(Value, String), PasskeyError> {
        register::start(self, user, exclude, now)
    }

    /// Verifies the browser's RegistrationResponseJSON against the sealed state.
    pub fn finish_registration(
        &self,
        sealed_state: &str,
        response_json: &[u8],
        now: i64,
    ) -> Result<NewPasskey, PasskeyError> {
        register::finish(self, sealed_state, response_json, now)
    }

    /// Options for a discoverable (usernameless) sign-in, without `allowCredentials`, and the
    /// sealed state.
    pub fn start_authentication(&self, now: i64) -> Result<(Value, String), PasskeyError> {
        authenticate::start(self, now)
    }

    /// Step 1 of finishing a sign-in: reads the AuthenticationResponseJSON so the caller can
    /// load the passkey by [`Assertion::credential_id`] and [`Assertion::user_handle`].
    pub fn read_assertion(&self, response_json: &[u8]) -> Result<Assertion, PasskeyError> {
        authenticate::read(response_json)
    }

    /// Step 2: verifies the assertion against the state and the stored passkey. A counter that
    /// does not grow (unless both old and new are 0) is [`PasskeyError::CounterWentBack`]; the
    /// user-verification and synced-passkey policies apply.
    pub fn finish_authentication(
        &self,
        sealed_state: &str,
        assertion: &Assertion,
        stored: &StoredPasskey,
        now: i64,
    ) -> Result<VerifiedAssertion, PasskeyError> {
        authenticate::finish(self, sealed_state, assertion, stored, now)
    }

    /// The ceremony's id (hex SHA-256 of its challenge) and expiry (Unix seconds), so the caller
    /// can record it as used: single use across replicas is enforced by the caller's store.
    pub fn ceremony_id(&self, sealed_state: &str) -> Result<(String, i64), PasskeyError> {
        let (_, opened) = state::open_any(&self.key, sealed_state)?;
        Ok((state::ceremony_id(&opened), opened.expires_at))
    }

    fn expiry(&self, now: i64) -> i64 {
        let secs = i64::try_from(self.settings.timeout.as_secs()).unwrap_or(i64::MAX);
        now.saturating_add(secs)
    }
}

/// The origin of `url` ("scheme://host[:port]"), checked to belong to `rp_id`.
fn checked_origin(url: &str, rp_id: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("origin {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!("origin {url:?} is not http(s)"));
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("origin {url:?} has a path, query or fragment"));
    }
    let host = parsed.host_str().unwrap_or_default();
    if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
        return Err(format!("origin {url:?} is not on RP ID {rp_id:?}"));
    }
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ok = |rp: &str, origin: &str| {
            let s = PasskeySettings {
                rp_id: rp.into(),
                origin: origin.into(),
                ..PasskeySettings::default()
            };
            Ceremonies::new(s, [1; 32]).map(|c| c.settings().origin.clone())
        };
        assert_eq!(
            ok("localhost", "http://localhost:1411").unwrap(),
            "http://localhost:1411"
        );
        assert_eq!(
            ok("Example.COM", "https://ID.example.com/").unwrap(),
            "https://id.example.com"
        );
        assert!(ok("example.com", "https://example.org").is_err());
        assert!(ok("example.com", "https://badexample.com").is_err());
        assert!(ok("example.com", "https://example.com/path").is_err());
        assert!(ok("example.com", "ftp://example.com").is_err());
        assert!(ok("", "https://example.com").is_err());
    }
}
