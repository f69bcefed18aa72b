//! A software authenticator and browser for the passkey tests: 1Password's passkey-client and
//! passkey-authenticator produce the JSON a browser's `credential.toJSON()` would send.
#![allow(dead_code)] // each test binary uses a part

use latchkey_idp::passkey::{Ceremonies, PasskeySettings, PasskeyUser};
use latchkey_oidc::crypto::{b64url, b64url_decode, sha256};
use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::{
    SecretKeyT as _, iana,
    rust_crypto::{RustCryptoBackend, RustCryptoSecretKey},
};
use passkey_types::{
    Passkey,
    ctap2::{Aaguid, Ctap2Error},
    webauthn::{CredentialCreationOptions, CredentialRequestOptions},
};
use serde_json::Value;
use url::Url;

/// A fixed clock for the ceremonies.
pub const NOW: i64 = 1_800_000_000;
/// A UUID string, the shape of our user ids.
pub const USER_ID: &str = "0b1c2d3e-4f50-4617-8283-949596979899";
pub const ORIGIN: &str = "https://id.example.com";
pub const KEY: [u8; 32] = [42; 32];

/// Flag bits of authenticator data (WebAuthn §6.1).
pub const UV: u8 = 0x04;
pub const BE: u8 = 0x08;
pub const BS: u8 = 0x10;

pub fn settings() -> PasskeySettings {
    PasskeySettings {
        rp_id: "id.example.com".into(),
        origin: ORIGIN.into(),
        ..PasskeySettings::default()
    }
}

pub fn ceremonies(settings: PasskeySettings) -> Ceremonies {
    Ceremonies::new(settings, KEY).expect("valid settings")
}

pub fn user() -> PasskeyUser {
    PasskeyUser {
        id: USER_ID.into(),
        name: "alice".into(),
        display_name: "Alice Example".into(),
    }
}

/// Present and, when asked, verified: a device with a PIN or biometrics.
pub struct Person;

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type SoftClient =
    Client<Option<Passkey>, Person, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// One browser with one authenticator holding at most one passkey.
pub struct Browser {
    client: SoftClient,
    origin: Url,
}

impl Browser {
    /// ES256, no signature counter, all-zero AAGUID.
    pub fn new(origin: &str) -> Self {
        Self::with(origin, iana::Algorithm::ES256, false, [0; 16])
    }

    pub fn with(origin: &str, alg: iana::Algorithm, counter: bool, aaguid: [u8; 16]) -> Self {
        let mut authenticator = Authenticator::new(Aaguid(aaguid), None, Person, RustCryptoBackend);
        authenticator
            .set_algorithms(&[alg])
            .expect("algorithm supported by the software authenticator");
        authenticator.set_make_credentials_with_signature_counter(counter);
        Self {
            client: Client::new(authenticator).allows_insecure_localhost(true),
            origin: Url::parse(origin).expect("origin URL"),
        }
    }

    /// The page now runs at another origin; the authenticator keeps its passkey.
    pub fn move_to(&mut self, origin: &str) {
        self.origin = Url::parse(origin).expect("origin URL");
    }

    /// `navigator.credentials.create(parseCreationOptionsFromJSON(options)).toJSON()`.
    pub async fn create(&mut self, options: &Value) -> Result<Vec<u8>, String> {
        let options: CredentialCreationOptions =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let credential = self
            .client
            .register(&self.origin, options, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_vec(&credential).expect("serialisable"))
    }

    /// `navigator.credentials.get(parseRequestOptionsFromJSON(options)).toJSON()`.
    pub async fn get(&mut self, options: &Value) -> Result<Vec<u8>, String> {
        let options: CredentialRequestOptions =
            serde_json::from_value(options.clone()).map_err(|e| format!("options: {e}"))?;
        let credential = self
            .client
            .authenticate(&self.origin, options, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_vec(&credential).expect("serialisable"))
    }

    /// An assertion whose authenticator data was changed by `edit` and signed again with the
    /// passkey's private key: a misbehaving (or differently built) authenticator.
    pub fn resign(&self, assertion: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut json: Value = serde_json::from_slice(assertion).expect("assertion JSON");
        let mut auth_data = field(&json, "authenticatorData");
        edit(&mut auth_data);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&sha256(&field(&json, "clientDataJSON")));
        let passkey = self
            .client
            .authenticator()
            .store()
            .as_ref()
            .expect("a passkey");
        let mut key = RustCryptoSecretKey::from_cose_key(&passkey.key).expect("private key");
        json["response"]["authenticatorData"] = b64url(&auth_data).into();
        json["response"]["signature"] = b64url(&key.sign(&signed)).into();
        serde_json::to_vec(&json).expect("serialisable")
    }
}

/// A base64url field of `response`, decoded.
pub fn field(json: &Value, name: &str) -> Vec<u8> {
    b64url_decode(json["response"][name].as_str().expect("string field")).expect("base64url")
}

/// A registration whose authenticator data was changed by `edit`, in the attestation object
/// and in `authenticatorData`. With attestation "none" nothing signs it.
pub fn edit_registration(registration: &[u8], edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut json: Value = serde_json::from_slice(registration).expect("registration JSON");
    let mut object = field(&json, "attestationObject");
    // The text key "authData", then a byte string header of two (0x58) or three (0x59) bytes.
    let key = b"\x68authData";
    let at = object
        .windows(key.len())
        .position(|w| w == key)
        .expect("authData in the attestation object")
        + key.len();
    let start = at + if object[at] == 0x58 { 2 } else { 3 };
    edit(&mut object[start..]);
    json["response"]["attestationObject"] = b64url(&object).into();
    if json["response"].get("authenticatorData").is_some() {
        let mut auth_data = field(&json, "authenticatorData");
        edit(&mut auth_data);
        json["response"]["authenticatorData"] = b64url(&auth_data).into();
    }
    serde_json::to_vec(&json).expect("serialisable")
}

/// Sets or clears flag bits (byte 32 of authenticator data).
pub fn set_flags(auth_data: &mut [u8], set: u8, clear: u8) {
    auth_data[32] = (auth_data[32] | set) & !clear;
}

/// Sets the signature counter (bytes 33..37, big-endian).
pub fn set_counter(auth_data: &mut [u8], counter: u32) {
    auth_data[33..37].copy_from_slice(&counter.to_be_bytes());
}

/// Changes `options.publicKey` at `path` (e.g. `["authenticatorSelection", "userVerification"]`).
pub fn with_option(options: &Value, path: &[&str], value: Value) -> Value {
    let mut options = options.clone();
    let mut at = &mut options["publicKey"];
    for key in path {
        at = &mut at[*key];
    }
    *at = value;
    options
}
