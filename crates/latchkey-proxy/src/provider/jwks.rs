//! The provider's signing keys. A token signed with a key we do not know (the provider
//! rotated) makes us read the JWKS again, once; such reads happen no more often than every
//! [`MIN_REFETCH`], so tokens with made-up `kid`s cannot turn us against the provider.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use latchkey_oidc::jose::VerifyingKey;

use super::ProviderError;
use super::http::json_answer;

pub(super) const MIN_REFETCH: Duration = Duration::from_secs(10);

pub(super) type KeyMap = Arc<HashMap<String, VerifyingKey>>;

pub(super) struct Jwks {
    keys: RwLock<KeyMap>,
    /// When the JWKS was last read again for an unknown `kid`; held while reading.
    refetched: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    pub(super) fn new() -> Jwks {
        Jwks {
            keys: RwLock::new(Arc::new(HashMap::new())),
            refetched: tokio::sync::Mutex::new(None),
        }
    }

    fn current(&self) -> KeyMap {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, keys: KeyMap) {
        match self.keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    pub(super) async fn load(
        &self,
        http: &reqwest::Client,
        uri: &str,
    ) -> Result<(), ProviderError> {
        let _reading = self.refetched.lock().await;
        let keys = fetch(http, uri).await?;
        self.replace(Arc::new(keys));
        Ok(())
    }

    /// The keys, read again first when `kid` is not among them (and the last read is old
    /// enough).
    pub(super) async fn keys_for(
        &self,
        http: &reqwest::Client,
        uri: &str,
        kid: Option<&str>,
    ) -> Result<KeyMap, ProviderError> {
        let keys = self.current();
        let Some(kid) = kid else { return Ok(keys) };
        if keys.contains_key(kid) {
            return Ok(keys);
        }
        let mut refetched = self.refetched.lock().await;
        // Someone may have read them while we waited.
        let keys = self.current();
        if keys.contains_key(kid) || refetched.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
            return Ok(keys);
        }
        *refetched = Some(Instant::now());
        let fresh = Arc::new(fetch(http, uri).await?);
        tracing::info!(
            kid,
            known = fresh.contains_key(kid),
            "read the provider's JWKS again for an unknown key id"
        );
        self.replace(fresh.clone());
        Ok(fresh)
    }
}

async fn fetch(
    http: &reqwest::Client,
    uri: &str,
) -> Result<HashMap<String, VerifyingKey>, ProviderError> {
    let (status, body) = json_answer(http.get(uri).send().await, "JWKS").await?;
    if !status.is_success() {
        return Err(ProviderError::Configuration(format!(
            "the JWKS answered HTTP {status}"
        )));
    }
    let Some(list) = body.get("keys").and_then(|k| k.as_array()) else {
        return Err(ProviderError::Configuration(
            "the JWKS has no keys array".into(),
        ));
    };
    let mut keys = HashMap::new();
    for jwk in list {
        // Encryption keys and key types we do not verify with are not errors.
        match VerifyingKey::from_jwk(jwk) {
            Ok(k) => {
                keys.insert(k.kid().to_owned(), k);
            }
            Err(e) => tracing::debug!(error = %e, "skipped a key of the provider's JWKS"),
        }
    }
    if keys.is_empty() {
        return Err(ProviderError::Configuration(
            "the JWKS has no signing key we can use (RS256, ES256, EdDSA)".into(),
        ));
    }
    Ok(keys)
}
