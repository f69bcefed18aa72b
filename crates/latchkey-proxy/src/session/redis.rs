//! Sessions in Redis. One hash per session (`created_at`, `generation`, and `state`: the
//! identity, the sealed tokens and the times, as JSON) expiring with the session; the refresh
//! lease is a key of its own, set with `NX` and a TTL, so a lease whose holder vanished
//! lapses by itself. Taking, using and giving back the lease are small Lua scripts, each
//! atomic in Redis: the same single-flight refresh as in the database (ADR 14).
//!
//! Back-channel logout finds sessions by `sid` or `sub` through sets of session digests,
//! which expire with the newest session they name; a digest whose session has gone is
//! harmless there.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use latchkey_store::{ProxyId, ProxyIdentity, ProxySession, ProxySessionRefresh, SealedTokens};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::store::SessionError;
use crate::settings::{SettingsError, invalid};

/// Takes the lease (KEYS: session, lease; ARGV: generation, holder, ttl ms) when the session
/// is still at that generation and nobody holds it.
const TAKE_LEASE: &str = r"
if redis.call('HGET', KEYS[1], 'generation') ~= ARGV[1] then return 0 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0";

/// Writes a refresh made under the lease (KEYS: session, lease; ARGV: holder, state,
/// expires_at), moves to the next generation and frees the lease.
const WRITE_REFRESH: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return 1";

/// Gives the lease back (KEYS: lease; ARGV: holder) if it is still the holder's.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// Ends every session an index names (KEYS: index; ARGV: the session key prefix).
const DELETE_INDEXED: &str = r"
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return n";

/// Connecting to Redis, or one command, takes this long at the most.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

/// What changes with a refresh, as stored.
#[derive(Serialize, Deserialize)]
struct State {
    subject: String,
    sid: Option<String>,
    user: String,
    email: Option<String>,
    email_verified: bool,
    preferred_username: Option<String>,
    groups: Vec<String>,
    access: String,
    id: Option<String>,
    refresh: Option<String>,
    tokens_expire_at: Option<i64>,
    refreshed_at: i64,
    expires_at: i64,
}

impl State {
    fn new(
        id: &ProxyIdentity,
        t: &SealedTokens,
        tokens_expire_at: Option<i64>,
        refreshed_at: i64,
        expires_at: i64,
    ) -> State {
        State {
            subject: id.subject.as_str().to_owned(),
            sid: id.sid.clone(),
            user: id.user.clone(),
            email: id.email.clone(),
            email_verified: id.email_verified,
            preferred_username: id.preferred_username.clone(),
            groups: id.groups.clone(),
            access: STANDARD.encode(&t.access),
            id: t.id.as_ref().map(|v| STANDARD.encode(v)),
            refresh: t.refresh.as_ref().map(|v| STANDARD.encode(v)),
            tokens_expire_at,
            refreshed_at,
            expires_at,
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn bytes(b64: &str) -> Result<Vec<u8>, SessionError> {
    STANDARD
        .decode(b64)
        .map_err(|e| SessionError::Malformed(e.to_string()))
}

pub struct RedisSessions {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    proxy: ProxyId,
    /// `latchkey:proxy:{proxy id}:`: several proxies may share one Redis database.
    prefix: String,
}

impl RedisSessions {
    pub fn new(url: &str, proxy: &ProxyId) -> Result<RedisSessions, SettingsError> {
        let client =
            redis::Client::open(url).map_err(|e| invalid("redis-connection-url", e.to_string()))?;
        Ok(RedisSessions {
            client,
            conn: OnceCell::new(),
            proxy: proxy.clone(),
            prefix: format!("latchkey:proxy:{proxy}:"),
        })
    }

    /// The connection, made on first use (Redis may start after the proxy); it reconnects
    /// by itself afterwards.
    async fn conn(&self) -> Result<ConnectionManager, SessionError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_TIMEOUT))
                    .set_response_timeout(Some(REDIS_TIMEOUT))
                    .set_number_of_retries(1);
                self.client.get_connection_manager_with_config(config).await
            })
            .await?;
        Ok(conn.clone())
    }

    fn session_key(&self, id_hash: &str) -> String {
        format!("{}session:{id_hash}", self.prefix)
    }

    fn lease_key(&self, id_hash: &str) -> String {
        format!("{}lease:{id_hash}", self.prefix)
    }

    fn index_key(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{value}", self.prefix)
    }

    /// Adds the session to its `sub` and `sid` sets, which live as long as it does.
    fn index(
        &self,
        pipe: &mut redis::Pipeline,
        id_hash: &str,
        id: &ProxyIdentity,
        expires_at: i64,
    ) {
        let mut add = |key: String| {
            pipe.cmd("SADD").arg(&key).arg(id_hash).ignore();
            pipe.cmd("EXPIREAT").arg(&key).arg(expires_at).ignore();
        };
        add(self.index_key("sub", id.subject.as_str()));
        if let Some(sid) = &id.sid {
            add(self.index_key("sid", sid));
        }
    }

    pub async fn create(&self, s: &ProxySession) -> Result<(), SessionError> {
        let key = self.session_key(&s.id_hash);
        let state = State::new(
            &s.identity,
            &s.tokens,
            s.tokens_expire_at,
            s.refreshed_at,
            s.expires_at,
        );
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("created_at")
            .arg(s.created_at)
            .arg("generation")
            .arg(s.generation)
            .arg("state")
            .arg(state.json())
            .ignore()
            .cmd("EXPIREAT")
            .arg(&key)
            .arg(s.expires_at)
            .ignore();
        self.index(&mut pipe, &s.id_hash, &s.identity, s.expires_at);
        pipe.query_async::<()>(&mut self.conn().await?).await?;
        Ok(())
    }

    pub async fn find(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<ProxySession>, SessionError> {
        let (created_at, generation, state): (Option<i64>, Option<i64>, Option<String>) =
            redis::cmd("HMGET")
                .arg(self.session_key(id_hash))
                .arg("created_at")
                .arg("generation")
                .arg("state")
                .query_async(&mut self.conn().await?)
                .await?;
        let (Some(created_at), Some(generation), Some(state)) = (created_at, generation, state)
        else {
            return Ok(None);
        };
        let st: State =
            serde_json::from_str(&state).map_err(|e| SessionError::Malformed(e.to_string()))?;
        if st.expires_at <= now {
            return Ok(None);
        }
        Ok(Some(ProxySession {
            id_hash: id_hash.to_owned(),
            proxy: self.proxy.clone(),
            identity: ProxyIdentity {
                subject: st.subject.into(),
                sid: st.sid,
                user: st.user,
                email: st.email,
                email_verified: st.email_verified,
                preferred_username: st.preferred_username,
                groups: st.groups,
            },
            tokens: SealedTokens {
                access: bytes(&st.access)?,
                id: st.id.as_deref().map(bytes).transpose()?,
                refresh: st.refresh.as_deref().map(bytes).transpose()?,
            },
            tokens_expire_at: st.tokens_expire_at,
            created_at,
            refreshed_at: st.refreshed_at,
            expires_at: st.expires_at,
            generation,
            lease_until: None,
        }))
    }

    pub async fn take_lease(
        &self,
        id_hash: &str,
        generation: i64,
        holder: &str,
        ttl_secs: i64,
    ) -> Result<bool, SessionError> {
        let taken: i64 = redis::cmd("EVAL")
            .arg(TAKE_LEASE)
            .arg(2)
            .arg(self.session_key(id_hash))
            .arg(self.lease_key(id_hash))
            .arg(generation)
            .arg(holder)
            .arg(ttl_secs.max(1).saturating_mul(1000))
            .query_async(&mut self.conn().await?)
            .await?;
        Ok(taken == 1)
    }

    pub async fn update_refreshed(
        &self,
        id_hash: &str,
        holder: &str,
        r: &ProxySessionRefresh,
    ) -> Result<bool, SessionError> {
        let state = State::new(
            &r.identity,
            &r.tokens,
            r.tokens_expire_at,
            r.refreshed_at,
            r.expires_at,
        );
        let mut conn = self.conn().await?;
        let written: i64 = redis::cmd("EVAL")
            .arg(WRITE_REFRESH)
            .arg(2)
            .arg(self.session_key(id_hash))
            .arg(self.lease_key(id_hash))
            .arg(holder)
            .arg(state.json())
            .arg(r.expires_at)
            .query_async(&mut conn)
            .await?;
        if written == 1 {
            let mut pipe = redis::pipe();
            self.index(&mut pipe, id_hash, &r.identity, r.expires_at);
            pipe.query_async::<()>(&mut conn).await?;
        }
        Ok(written == 1)
    }

    pub async fn release_lease(&self, id_hash: &str, holder: &str) -> Result<bool, SessionError> {
        let released: i64 = redis::cmd("EVAL")
            .arg(RELEASE_LEASE)
            .arg(1)
            .arg(self.lease_key(id_hash))
            .arg(holder)
            .query_async(&mut self.conn().await?)
            .await?;
        Ok(released == 1)
    }

    pub async fn delete(&self, id_hash: &str) -> Result<bool, SessionError> {
        let n: i64 = redis::cmd("DEL")
            .arg(self.session_key(id_hash))
            .arg(self.lease_key(id_hash))
            .query_async(&mut self.conn().await?)
            .await?;
        Ok(n > 0)
    }

    /// Ends the sessions of one `sid` or `sub` (`kind`).
    pub async fn delete_by_index(&self, kind: &str, value: &str) -> Result<u64, SessionError> {
        let n: u64 = redis::cmd("EVAL")
            .arg(DELETE_INDEXED)
            .arg(1)
            .arg(self.index_key(kind, value))
            .arg(format!("{}session:", self.prefix))
            .query_async(&mut self.conn().await?)
            .await?;
        Ok(n)
    }

    pub async fn ping(&self) -> Result<(), SessionError> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.conn().await?)
            .await?;
        Ok(())
    }
}
