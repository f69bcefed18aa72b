//! Where sessions live: Latchkey's database (the default), or Redis
//! (`--session-store-type redis`) for people who already run one. Both keep the same records
//! and the same one-refresh-at-a-time lease; the cookie is the same sealed reference.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use latchkey_oidc::ttl_cache::TtlCache;
use latchkey_store::{ProxyId, ProxySession, ProxySessionRefresh, Store, StoreError, Subject};

use super::redis::RedisSessions;
use crate::settings::{ProxySettings, SettingsError, invalid};

/// `--session-store-type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionStoreType {
    /// Latchkey's database (SQLite, or PostgreSQL for several replicas).
    #[default]
    Database,
    /// Redis at `--redis-connection-url`.
    Redis,
}

/// `--redis-connection-url`: `redis://[user:password@]host[:port][/db]`. It may hold a
/// password, so it is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(pub String);

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl(<redacted>)")
    }
}

/// A session store that failed; the detail goes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("a session record in Redis is malformed: {0}")]
    Malformed(String),
}

/// The store settings' check (for `check-config` too): Redis needs a `redis://` URL.
pub fn check(s: &ProxySettings) -> Result<(), SettingsError> {
    match (s.session_store_type, &s.redis_connection_url) {
        (SessionStoreType::Database, _) => Ok(()),
        (SessionStoreType::Redis, None) => Err(invalid(
            "redis-connection-url",
            "must be set with --session-store-type=redis",
        )),
        (SessionStoreType::Redis, Some(url)) => {
            let parsed = url::Url::parse(&url.0)
                .map_err(|_| invalid("redis-connection-url", "not a URL"))?;
            match parsed.scheme() {
                "redis" => redis::Client::open(url.0.as_str())
                    .map(|_| ())
                    .map_err(|e| invalid("redis-connection-url", e.to_string())),
                "rediss" => Err(invalid(
                    "redis-connection-url",
                    "TLS to Redis (rediss://) is not supported; use redis:// on a trusted network",
                )),
                _ => Err(invalid(
                    "redis-connection-url",
                    "expected redis://host[:port][/db]",
                )),
            }
        }
    }
}

/// One proxy's sessions in one store.
pub enum Backend {
    Database {
        store: Store,
        proxy: ProxyId,
        /// On SQLite only: see [`Recent`].
        recent: Option<Box<Recent>>,
    },
    Redis(Box<RedisSessions>),
}

/// How long a session read from SQLite is kept in memory.
const RECENT_TTL: Duration = Duration::from_secs(2);

/// Sessions read from SQLite in the last [`RECENT_TTL`]: without it every proxied request
/// reads its session from the database, about half of the proxy's own cost per request. On
/// SQLite one process holds the sessions, so every write goes through this one: each forgets
/// what it touches, and an epoch keeps a read that raced a write from keeping what the write
/// replaced. Not on PostgreSQL, whose replicas must see each other's sign-outs at once, nor
/// on Redis.
pub struct Recent {
    cache: TtlCache<String, Arc<ProxySession>>,
    epoch: AtomicU64,
}

impl Recent {
    fn new() -> Recent {
        Recent {
            cache: TtlCache::new(RECENT_TTL, 10_000),
            epoch: AtomicU64::new(0),
        }
    }

    fn get(&self, id_hash: &str, now: i64) -> Option<Arc<ProxySession>> {
        self.cache.get(id_hash).filter(|s| s.expires_at > now)
    }

    /// Keeps what a read that started at `epoch` found, unless a write came since.
    fn keep(&self, epoch: u64, s: &Arc<ProxySession>) {
        self.cache.insert(s.id_hash.clone(), s.clone());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            self.cache.remove(s.id_hash.as_str());
        }
    }

    fn forget(&self, id_hash: &str) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.remove(id_hash);
    }

    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.clear();
    }
}

impl Backend {
    pub fn new(s: &ProxySettings, store: Store) -> Result<Backend, SettingsError> {
        check(s)?;
        Ok(match (&s.session_store_type, &s.redis_connection_url) {
            (SessionStoreType::Redis, Some(url)) => {
                Backend::Redis(Box::new(RedisSessions::new(&url.0, &s.id)?))
            }
            _ => Backend::Database {
                recent: (store.backend_name() == "sqlite").then(|| Box::new(Recent::new())),
                store,
                proxy: s.id.clone(),
            },
        })
    }

    pub async fn create(&self, s: &ProxySession) -> Result<(), SessionError> {
        match self {
            Backend::Database { store, .. } => Ok(store.create_proxy_session(s).await?),
            Backend::Redis(r) => r.create(s).await,
        }
    }

    /// The live session `id_hash`, maybe as read a moment ago (see [`Recent`]).
    pub async fn find(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<Arc<ProxySession>>, SessionError> {
        let Backend::Database {
            recent: Some(recent),
            store,
            proxy,
        } = self
        else {
            return Ok(self.find_fresh(id_hash, now).await?.map(Arc::new));
        };
        if let Some(s) = recent.get(id_hash, now) {
            return Ok(Some(s));
        }
        let epoch = recent.epoch.load(Ordering::SeqCst);
        let found = store
            .find_proxy_session(proxy, id_hash, now)
            .await?
            .map(Arc::new);
        if let Some(s) = &found {
            recent.keep(epoch, s);
        }
        Ok(found)
    }

    /// The live session `id_hash` as the store has it now (a refresh waiting for another).
    pub async fn find_fresh(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<ProxySession>, SessionError> {
        match self {
            Backend::Database { store, proxy, .. } => {
                Ok(store.find_proxy_session(proxy, id_hash, now).await?)
            }
            Backend::Redis(r) => r.find(id_hash, now).await,
        }
    }

    /// Forgets what this process keeps of `id_hash` (`None`: of every session).
    fn forget(&self, id_hash: Option<&str>) {
        if let Backend::Database {
            recent: Some(recent),
            ..
        } = self
        {
            match id_hash {
                Some(id) => recent.forget(id),
                None => recent.forget_all(),
            }
        }
    }

    /// The refresh lease of `generation` for `holder` until `until` (see
    /// [`Store::take_proxy_refresh_lease`]).
    pub async fn take_lease(
        &self,
        id_hash: &str,
        generation: i64,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, SessionError> {
        // Forgotten once written (here and below): a read that raced the write keeps
        // nothing (see Recent).
        let done = match self {
            Backend::Database { store, proxy, .. } => Ok(store
                .take_proxy_refresh_lease(proxy, id_hash, generation, holder, now, until)
                .await?),
            Backend::Redis(r) => r.take_lease(id_hash, generation, holder, until - now).await,
        };
        self.forget(Some(id_hash));
        done
    }

    pub async fn update_refreshed(
        &self,
        id_hash: &str,
        holder: &str,
        update: &ProxySessionRefresh,
    ) -> Result<bool, SessionError> {
        let done = match self {
            Backend::Database { store, proxy, .. } => Ok(store
                .update_proxy_session_refreshed(proxy, id_hash, holder, update)
                .await?),
            Backend::Redis(r) => r.update_refreshed(id_hash, holder, update).await,
        };
        self.forget(Some(id_hash));
        done
    }

    pub async fn release_lease(&self, id_hash: &str, holder: &str) -> Result<bool, SessionError> {
        let done = match self {
            Backend::Database { store, proxy, .. } => Ok(store
                .release_proxy_refresh_lease(proxy, id_hash, holder)
                .await?),
            Backend::Redis(r) => r.release_lease(id_hash, holder).await,
        };
        self.forget(Some(id_hash));
        done
    }

    pub async fn delete(&self, id_hash: &str) -> Result<bool, SessionError> {
        let done = match self {
            Backend::Database { store, proxy, .. } => {
                Ok(store.delete_proxy_session(proxy, id_hash).await?)
            }
            Backend::Redis(r) => r.delete(id_hash).await,
        };
        self.forget(Some(id_hash));
        done
    }

    pub async fn delete_by_sid(&self, sid: &str) -> Result<u64, SessionError> {
        let done = match self {
            Backend::Database { store, proxy, .. } => {
                Ok(store.delete_proxy_sessions_by_sid(proxy, sid).await?)
            }
            Backend::Redis(r) => r.delete_by_index("sid", sid).await,
        };
        self.forget(None);
        done
    }

    pub async fn delete_by_subject(&self, subject: &Subject) -> Result<u64, SessionError> {
        let done = match self {
            Backend::Database { store, proxy, .. } => Ok(store
                .delete_proxy_sessions_by_subject(proxy, subject)
                .await?),
            Backend::Redis(r) => r.delete_by_index("sub", subject.as_str()).await,
        };
        self.forget(None);
        done
    }

    /// Whether the store answers (for the ready path).
    pub async fn ping(&self) -> Result<(), SessionError> {
        match self {
            Backend::Database { store, .. } => Ok(store.ping().await?),
            Backend::Redis(r) => r.ping().await,
        }
    }
}
