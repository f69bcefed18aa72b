//! The signing keys of one issuer, parsed once and kept in memory. The database holds them
//! sealed with the instance key; every replica loads the same set and reloads it periodically,
//! so a key rotated by the CLI or another replica is picked up without a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use latchkey_store::{IssuerId, SigningKeyRecord, Store, StoreError, unix_now};

use crate::crypto::MasterKey;
use crate::jose::{Alg, SigningKey, VerifyingKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid} cannot be opened: wrong encryption key, or the data is damaged")]
    Unseal { kid: String },
    #[error("signing key {kid}: {reason}")]
    Invalid { kid: String, reason: String },
    #[error("no current {0} signing key")]
    Missing(Alg),
}

/// A snapshot of the keys: the current signer per algorithm and every published verifier.
pub struct KeySet {
    signing: HashMap<Alg, Arc<SigningKey>>,
    verifying: HashMap<String, VerifyingKey>,
    jwks: String,
}

impl KeySet {
    pub fn signer(&self, alg: Alg) -> Result<&SigningKey, KeyError> {
        self.signing
            .get(&alg)
            .map(|k| k.as_ref())
            .ok_or(KeyError::Missing(alg))
    }

    pub fn verifier(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.get(kid)
    }

    /// The JWKS document, serialised once per load.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

pub struct KeyRing {
    source: Source,
    /// The current set; a watch so that a request can wait for a key still being made.
    current: tokio::sync::watch::Sender<Arc<KeySet>>,
    /// Unix time of the last reload triggered by an unknown `kid`.
    last_miss_reload: std::sync::atomic::AtomicI64,
    /// A key is being made in the background.
    creating: Arc<AtomicBool>,
}

/// Where an issuer's keys live.
#[derive(Clone)]
struct Source {
    issuer: IssuerId,
    store: Store,
    master: Arc<MasterKey>,
}

/// An unknown `kid` triggers at most one reload per this many seconds, so garbage tokens
/// cannot turn into database load.
const MISS_RELOAD_INTERVAL: i64 = 5;

fn aad(issuer: &IssuerId, alg: &str, kid: &str) -> Vec<u8> {
    format!("latchkey-signing-key|{issuer}|{alg}|{kid}").into_bytes()
}

/// Seals a new key of `alg` into a record ready for the store.
pub fn new_key_record(
    issuer: &IssuerId,
    alg: Alg,
    master: &MasterKey,
) -> Result<(SigningKeyRecord, SigningKey), KeyError> {
    let key = SigningKey::generate(alg).map_err(|e| KeyError::Invalid {
        kid: "(new)".into(),
        reason: e.to_string(),
    })?;
    let der = key.to_pkcs8().map_err(|e| KeyError::Invalid {
        kid: key.kid().into(),
        reason: e.to_string(),
    })?;
    let record = SigningKeyRecord {
        kid: key.kid().to_owned(),
        issuer: issuer.clone(),
        alg: alg.as_str().to_owned(),
        sealed_key: master.seal(&der, &aad(issuer, alg.as_str(), key.kid())),
        created_at: unix_now(),
        retired_at: None,
        publish_until: None,
    };
    Ok((record, key))
}

impl KeyRing {
    /// Loads the issuer's keys, first creating a current key for every algorithm that has
    /// none. An RSA key takes tens of milliseconds to generate: a missing RS256 key is made in
    /// the background, so a first start serves at once; until it exists the set has no RS256
    /// signer (discovery leaves RS256 out, and signing with it waits, see
    /// [`KeyRing::wait_for_signer`]).
    pub async fn load(
        store: Store,
        issuer: IssuerId,
        master: Arc<MasterKey>,
    ) -> Result<KeyRing, KeyError> {
        let source = Source {
            issuer,
            store,
            master,
        };
        let records = source
            .store
            .list_signing_keys(&source.issuer, unix_now())
            .await?;
        let missing: Vec<Alg> = Alg::ALL
            .into_iter()
            .filter(|alg| {
                !records
                    .iter()
                    .any(|r| r.alg == alg.as_str() && r.retired_at.is_none())
            })
            .collect();
        for alg in missing.iter().filter(|a| **a != Alg::RS256) {
            source.create_key(*alg).await?;
        }
        let (current, _) = tokio::sync::watch::channel(Arc::new(source.load_set().await?));
        let ring = KeyRing {
            source,
            current,
            last_miss_reload: std::sync::atomic::AtomicI64::new(0),
            creating: Arc::new(AtomicBool::new(false)),
        };
        if missing.contains(&Alg::RS256) {
            ring.spawn_create(Alg::RS256);
        }
        Ok(ring)
    }

    fn spawn_create(&self, alg: Alg) {
        let source = self.source.clone();
        let current = self.current.clone();
        let creating = self.creating.clone();
        creating.store(true, Ordering::Release);
        tokio::spawn(async move {
            let mut created = false;
            for attempt in 1..=60 {
                let made = async {
                    if !created {
                        source.create_key(alg).await?;
                        created = true;
                    }
                    source.load_set().await
                };
                match made.await {
                    Ok(set) => {
                        current.send_replace(Arc::new(set));
                        creating.store(false, Ordering::Release);
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, alg = alg.as_str(), attempt, "creating a signing key failed; retrying in 5 s");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                }
            }
            creating.store(false, Ordering::Release);
        });
    }

    /// The keys, once they have a signer of `alg`: at once, or after waiting (up to 30 s)
    /// for a key being made in the background.
    pub async fn wait_for_signer(&self, alg: Alg) -> Result<Arc<KeySet>, KeyError> {
        let set = self.keys();
        if set.signer(alg).is_ok() || !self.creating.load(Ordering::Acquire) {
            return Ok(set);
        }
        let mut rx = self.current.subscribe();
        let wait = rx.wait_for(|set| set.signer(alg).is_ok());
        match tokio::time::timeout(std::time::Duration::from_secs(30), wait).await {
            Ok(Ok(set)) => Ok(set.clone()),
            _ => Err(KeyError::Missing(alg)),
        }
    }

    pub fn keys(&self) -> Arc<KeySet> {
        self.current.borrow().clone()
    }

    /// The keys, reloaded first if `kid` is unknown (a key rotated by another replica or the
    /// CLI since the last reload).
    pub async fn keys_with(&self, kid: Option<&str>) -> Arc<KeySet> {
        let keys = self.keys();
        let Some(kid) = kid else { return keys };
        if keys.verifier(kid).is_some() {
            return keys;
        }
        let now = unix_now();
        let last = self
            .last_miss_reload
            .load(std::sync::atomic::Ordering::Relaxed);
        if now - last < MISS_RELOAD_INTERVAL
            || self
                .last_miss_reload
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_err()
        {
            return keys;
        }
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        self.keys()
    }

    /// Re-reads the keys from the store.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let set = self.source.load_set().await?;
        self.current.send_replace(Arc::new(set));
        Ok(())
    }
}

impl Source {
    async fn create_key(&self, alg: Alg) -> Result<(), KeyError> {
        let (issuer, master) = (self.issuer.clone(), self.master.clone());
        let record = tokio::task::spawn_blocking(move || new_key_record(&issuer, alg, &master))
            .await
            .map_err(|e| KeyError::Invalid {
                kid: "(new)".into(),
                reason: e.to_string(),
            })??
            .0;
        self.store.create_signing_key(&record).await?;
        tracing::info!(issuer = %self.issuer, alg = alg.as_str(), kid = %record.kid, "created signing key");
        Ok(())
    }

    /// Every published key of the issuer, opened and parsed.
    async fn load_set(&self) -> Result<KeySet, KeyError> {
        let records = self
            .store
            .list_signing_keys(&self.issuer, unix_now())
            .await?;
        let mut signing = HashMap::new();
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        // Newest first: the first unretired key of an algorithm is its signer.
        for r in &records {
            let alg: Alg = r.alg.parse().map_err(|_| KeyError::Invalid {
                kid: r.kid.clone(),
                reason: format!("unknown algorithm {:?}", r.alg),
            })?;
            // A key sealed under another instance key (a mistaken `keys rotate`) is skipped,
            // not fatal: the others keep signing.
            let Ok(der) = self
                .master
                .open(&r.sealed_key, &aad(&self.issuer, &r.alg, &r.kid))
            else {
                tracing::error!(kid = %r.kid, alg = %r.alg, "signing key cannot be opened with this encryption key; skipped");
                continue;
            };
            let key = SigningKey::from_pkcs8(alg, &der).map_err(|e| KeyError::Invalid {
                kid: r.kid.clone(),
                reason: e.to_string(),
            })?;
            jwks.push(key.public_jwk().clone());
            verifying.insert(r.kid.clone(), key.verifying_key());
            if r.retired_at.is_none() && !signing.contains_key(&alg) {
                signing.insert(alg, Arc::new(key));
            }
        }
        if signing.is_empty() {
            return Err(KeyError::Unseal {
                kid: records.first().map(|r| r.kid.clone()).unwrap_or_default(),
            });
        }
        let jwks = serde_json::json!({ "keys": jwks }).to_string();
        Ok(KeySet {
            signing,
            verifying,
            jwks,
        })
    }
}

/// Makes a new current key for `alg`; the previous one keeps being published for
/// `publish_for` seconds so that tokens it signed still verify.
pub async fn rotate(
    store: &Store,
    issuer: &IssuerId,
    alg: Alg,
    master: &MasterKey,
    publish_for: i64,
) -> Result<String, KeyError> {
    let (record, _) = new_key_record(issuer, alg, master)?;
    let now = unix_now();
    store
        .rotate_signing_key(&record, now, now + publish_for)
        .await?;
    Ok(record.kid)
}
