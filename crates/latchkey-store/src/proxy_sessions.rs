//! The auth proxy's sessions. The browser holds only a sealed reference; the row is found by
//! the reference's digest, within one proxy (several proxies may share a database). Tokens
//! arrive sealed by the proxy and are kept as given.
//!
//! Refreshing is single-flight across requests and replicas: a request that finds the
//! session due takes the refresh lease with a conditional UPDATE
//! ([`Store::take_proxy_refresh_lease`]); the others wait and read the session again. A
//! lease that its holder never released expires.

use sqlx::Row;

use crate::model::{list_json, parse_list};
use crate::{Result, Store, Subject, on_pool};

/// Which proxy a session belongs to: a stable name from configuration (like
/// [`crate::IssuerId`] for issuers), so that one database serves several proxies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProxyId(pub String);

impl ProxyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProxyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ProxyId {
    fn from(s: &str) -> Self {
        ProxyId(s.to_owned())
    }
}

impl From<String> for ProxyId {
    fn from(s: String) -> Self {
        ProxyId(s)
    }
}

/// Who a proxy session is for, as the provider said at sign-in or at the last refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyIdentity {
    pub subject: Subject,
    /// The provider's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    /// What oauth2-proxy calls the user (`X-Forwarded-User`).
    pub user: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub groups: Vec<String>,
}

/// The provider's tokens, each sealed by the proxy (the store never sees them in clear).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedTokens {
    pub access: Vec<u8>,
    pub id: Option<Vec<u8>>,
    pub refresh: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySession {
    /// SHA-256 (hex) of the session reference the cookie carries.
    pub id_hash: String,
    pub proxy: ProxyId,
    pub identity: ProxyIdentity,
    pub tokens: SealedTokens,
    /// When the provider's tokens expire (the earliest of them), when it said.
    pub tokens_expire_at: Option<i64>,
    pub created_at: i64,
    pub refreshed_at: i64,
    /// The session's end (cookie expiry); moved on by each refresh.
    pub expires_at: i64,
    /// Grows by one with each refresh; a lease is taken for one generation.
    pub generation: i64,
    /// Until when a refresh lease is held, when one is.
    pub lease_until: Option<i64>,
}

/// What a refresh writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySessionRefresh {
    pub identity: ProxyIdentity,
    pub tokens: SealedTokens,
    pub tokens_expire_at: Option<i64>,
    pub refreshed_at: i64,
    pub expires_at: i64,
}

macro_rules! columns {
    () => {
        "id_hash, proxy, subject, sid, user_name, email, email_verified, preferred_username, \
         groups, access_token, id_token, refresh_token, tokens_expire_at, created_at, \
         refreshed_at, expires_at, generation, lease_until"
    };
}

impl Store {
    /// Stores a new session; [`crate::StoreError::Conflict`] if the digest exists.
    pub async fn create_proxy_session(&self, s: &ProxySession) -> Result<()> {
        const SQL: &str = concat!(
            "INSERT INTO proxy_sessions (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
        let id = &s.identity;
        on_pool!(self, write, pool => {
            sqlx::query(SQL)
                .bind(&s.id_hash)
                .bind(s.proxy.as_str())
                .bind(id.subject.as_str())
                .bind(id.sid.as_deref())
                .bind(&id.user)
                .bind(id.email.as_deref())
                .bind(id.email_verified)
                .bind(id.preferred_username.as_deref())
                .bind(list_json(&id.groups))
                .bind(&s.tokens.access)
                .bind(s.tokens.id.as_deref())
                .bind(s.tokens.refresh.as_deref())
                .bind(s.tokens_expire_at)
                .bind(s.created_at)
                .bind(s.refreshed_at)
                .bind(s.expires_at)
                .bind(s.generation)
                .bind(s.lease_until)
                .execute(pool)
                .await
                .map_err(crate::conflict)?;
        });
        Ok(())
    }

    /// A live session (`expires_at` after `now`) of `proxy` by the digest of its reference.
    pub async fn find_proxy_session(
        &self,
        proxy: &ProxyId,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<ProxySession>> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM proxy_sessions WHERE id_hash = $1 AND proxy = $2 AND expires_at > $3"
        );
        on_pool!(self, read, pool => {
            let row = sqlx::query(SQL)
                .bind(id_hash)
                .bind(proxy.as_str())
                .bind(now)
                .fetch_optional(pool)
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(ProxySession {
                id_hash: row.try_get("id_hash")?,
                proxy: ProxyId(row.try_get("proxy")?),
                identity: ProxyIdentity {
                    subject: Subject(row.try_get("subject")?),
                    sid: row.try_get("sid")?,
                    user: row.try_get("user_name")?,
                    email: row.try_get("email")?,
                    email_verified: row.try_get("email_verified")?,
                    preferred_username: row.try_get("preferred_username")?,
                    groups: parse_list(row.try_get::<&str, _>("groups")?)?,
                },
                tokens: SealedTokens {
                    access: row.try_get("access_token")?,
                    id: row.try_get("id_token")?,
                    refresh: row.try_get("refresh_token")?,
                },
                tokens_expire_at: row.try_get("tokens_expire_at")?,
                created_at: row.try_get("created_at")?,
                refreshed_at: row.try_get("refreshed_at")?,
                expires_at: row.try_get("expires_at")?,
                generation: row.try_get("generation")?,
                lease_until: row.try_get("lease_until")?,
            }))
        })
    }

    /// Takes the refresh lease of the session's `generation` for `holder` until `until`,
    /// if no one holds it (or the holder's lease ran out before `now`). `false`: someone
    /// else is refreshing, has refreshed already (the generation moved on), or the session
    /// is gone.
    pub async fn take_proxy_refresh_lease(
        &self,
        proxy: &ProxyId,
        id_hash: &str,
        generation: i64,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE proxy_sessions SET lease_holder = $4, lease_until = $6 \
                 WHERE id_hash = $1 AND proxy = $2 AND generation = $3 \
                 AND (lease_holder IS NULL OR lease_until <= $5)",
            )
            .bind(id_hash)
            .bind(proxy.as_str())
            .bind(generation)
            .bind(holder)
            .bind(now)
            .bind(until)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Writes a refresh made under `holder`'s lease, moves to the next generation and frees
    /// the lease. `false` when `holder` no longer holds the lease (it ran out and another
    /// took it) or the session is gone: nothing is written.
    pub async fn update_proxy_session_refreshed(
        &self,
        proxy: &ProxyId,
        id_hash: &str,
        holder: &str,
        r: &ProxySessionRefresh,
    ) -> Result<bool> {
        let id = &r.identity;
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE proxy_sessions SET subject = $4, sid = $5, user_name = $6, email = $7, \
                 email_verified = $8, preferred_username = $9, groups = $10, access_token = $11, \
                 id_token = $12, refresh_token = $13, tokens_expire_at = $14, refreshed_at = $15, \
                 expires_at = $16, generation = generation + 1, lease_holder = NULL, lease_until = NULL \
                 WHERE id_hash = $1 AND proxy = $2 AND lease_holder = $3",
            )
            .bind(id_hash)
            .bind(proxy.as_str())
            .bind(holder)
            .bind(id.subject.as_str())
            .bind(id.sid.as_deref())
            .bind(&id.user)
            .bind(id.email.as_deref())
            .bind(id.email_verified)
            .bind(id.preferred_username.as_deref())
            .bind(list_json(&id.groups))
            .bind(&r.tokens.access)
            .bind(r.tokens.id.as_deref())
            .bind(r.tokens.refresh.as_deref())
            .bind(r.tokens_expire_at)
            .bind(r.refreshed_at)
            .bind(r.expires_at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Gives the lease back without refreshing (the provider could not be reached, say).
    pub async fn release_proxy_refresh_lease(
        &self,
        proxy: &ProxyId,
        id_hash: &str,
        holder: &str,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE proxy_sessions SET lease_holder = NULL, lease_until = NULL \
                 WHERE id_hash = $1 AND proxy = $2 AND lease_holder = $3",
            )
            .bind(id_hash)
            .bind(proxy.as_str())
            .bind(holder)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    pub async fn delete_proxy_session(&self, proxy: &ProxyId, id_hash: &str) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM proxy_sessions WHERE id_hash = $1 AND proxy = $2")
                .bind(id_hash)
                .bind(proxy.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Ends every session of `proxy` that the provider's session `sid` started (back-channel
    /// logout); returns how many.
    pub async fn delete_proxy_sessions_by_sid(&self, proxy: &ProxyId, sid: &str) -> Result<u64> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query("DELETE FROM proxy_sessions WHERE proxy = $1 AND sid = $2")
                .bind(proxy.as_str())
                .bind(sid)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Ends every session of `proxy` for `subject`; returns how many.
    pub async fn delete_proxy_sessions_by_subject(
        &self,
        proxy: &ProxyId,
        subject: &Subject,
    ) -> Result<u64> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query("DELETE FROM proxy_sessions WHERE proxy = $1 AND subject = $2")
                .bind(proxy.as_str())
                .bind(subject.as_str())
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// Deletes proxy sessions that ended before `now`, for every proxy; returns how many.
    pub async fn delete_expired_proxy_sessions(&self, now: i64) -> Result<u64> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query("DELETE FROM proxy_sessions WHERE expires_at < $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
