//! Latchkey's repository: one interface over SQLite (embedded, the default) and PostgreSQL
//! (several replicas). Each query is written once with `$n` placeholders, which both drivers
//! understand, and compiled once per backend by [`on_pool!`].

mod admin;
mod audit;
mod clients;
mod conns;
mod device_codes;
mod directory;
mod keys;
mod links;
mod logos;
mod migrate;
mod model;
mod passkeys;
mod postgres;
mod proxy_sessions;
mod sessions;
mod tokens;

pub use audit::NewAuditEvent;
pub use device_codes::{DeviceCode, DevicePoll, DeviceStatus};
pub use directory::fold;
pub use logos::Logo;
pub use model::*;
pub use passkeys::PasskeyUse;
pub use proxy_sessions::{ProxyId, ProxyIdentity, ProxySession, ProxySessionRefresh, SealedTokens};
pub use tokens::AccessTokenState;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use crate::conns::Conns;

/// How long a query waits for a SQLite connection when all are busy.
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// PostgreSQL (`at` host:port) could not be reached or refused us; one line.
    #[error("could not connect to PostgreSQL at {at}: {reason}")]
    Connect { at: String, reason: String },
    /// The TLS connection that `sslmode` asks for could not be made: `reason` names the
    /// certificate or handshake problem and the TLS settings.
    #[error("could not connect to PostgreSQL at {at} over TLS: {reason}")]
    Tls { at: String, reason: String },
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("stored data is malformed: {0}")]
    Malformed(String),
    #[error("already exists")]
    Conflict,
    /// A record refers to one that does not exist (a member of a missing group, say).
    #[error("refers to a record that does not exist")]
    NotFound,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
enum Backend {
    /// SQLite allows one writer at a time; a single-connection writer pool queues writes in
    /// process instead of letting connections spin on the database lock.
    Sqlite {
        read: Arc<Conns<SqliteConnection>>,
        write: Arc<Conns<SqliteConnection>>,
    },
    Postgres(Arc<Conns<PgConnection>>),
}

/// Handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per backend.
/// `read` leases one of SQLite's reader connections, `write` its single writer (see
/// [`conns`]); on PostgreSQL both are the pool.
macro_rules! on_pool {
    ($store:expr, read, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite { read, .. } => $crate::on_pool!(@lease read, $pool => $body),
            $crate::Backend::Postgres(pg) => $crate::on_pool!(@lease pg, $pool => $body),
        }
    };
    ($store:expr, write, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite { write, .. } => $crate::on_pool!(@lease write, $pool => $body),
            $crate::Backend::Postgres(pg) => $crate::on_pool!(@lease pg, $pool => $body),
        }
    };
    // The lease is marked done only when the body ends normally: a `?` that returns early
    // leaves the connection to be checked before its next use.
    (@lease $conns:expr, $pool:ident => $body:expr) => {{
        #[allow(unused_imports)]
        use sqlx::Connection as _;
        let mut lease = $conns.lease().await?;
        let out = {
            let $pool = &mut *lease;
            $body
        };
        lease.done();
        out
    }};
}
pub(crate) use on_pool;

impl Store {
    /// Connects and applies pending migrations. `sqlite://path` creates the file when missing.
    pub async fn connect(url: &str) -> Result<Store> {
        let backend = if let Some(path) = url.strip_prefix("sqlite://") {
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("temp_store", "memory")
                // Checkpoints (and their fsyncs) run once a second in a background task, not in
                // every commit once the WAL is past a threshold (which is what happens under
                // continuous load, when readers keep the WAL from restarting).
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", "67108864");
            let open = |count| {
                let options = options.clone();
                async move {
                    let first = options.connect().await?;
                    Ok::<_, sqlx::Error>(Arc::new(Conns::new(
                        first,
                        options,
                        count,
                        SQLITE_ACQUIRE_TIMEOUT,
                    )))
                }
            };
            let write = open(1).await?;
            let read = open(8).await?;
            spawn_checkpointer(read.clone());
            Backend::Sqlite { read, write }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(Arc::new(postgres::connect(url).await?))
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let store = Store { backend };
        migrate::run(&store).await?;
        Ok(store)
    }

    /// "sqlite" or "postgres", for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Whether the connection to the database is encrypted: `None` for SQLite (a local file),
    /// else what PostgreSQL says of the connection that answers.
    pub async fn tls_in_use(&self) -> Result<Option<bool>> {
        match &self.backend {
            Backend::Sqlite { .. } => Ok(None),
            Backend::Postgres(pg) => {
                let mut conn = pg.lease().await?;
                let ssl =
                    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                        .fetch_one(&mut *conn)
                        .await?;
                conn.done();
                Ok(Some(ssl))
            }
        }
    }

    /// A trivial round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, read, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes expired grants, refresh tokens, sessions, deny-list entries and keys no longer
    /// published; returns how many rows went.
    pub async fn delete_expired(&self, now: i64) -> Result<u64> {
        let mut total = 0;
        for sql in [
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM grants WHERE expires_at < $1",
            "DELETE FROM revoked_access_tokens WHERE expires_at < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
            "DELETE FROM one_time_links WHERE expires_at < $1",
            "DELETE FROM used_ceremonies WHERE expires_at < $1",
            "DELETE FROM device_codes WHERE expires_at < $1",
            "DELETE FROM signing_keys WHERE publish_until IS NOT NULL AND publish_until < $1",
        ] {
            total += on_pool!(self, write, pool => {
                sqlx::query(sql).bind(now).execute(pool).await?.rows_affected()
            });
        }
        Ok(total)
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, write } => {
                write.close().await;
                read.close().await;
            }
            Backend::Postgres(pg) => pg.close().await,
        }
    }
}

/// Copies the WAL back into the database every second from a reader connection. RESTART
/// waits (briefly: reads are short) until readers have moved off the WAL, so the next write
/// starts the WAL from the beginning; a PASSIVE checkpoint under continuous load never gets
/// that chance and the WAL grows without bound. `journal_size_limit` then trims the file.
fn spawn_checkpointer(pool: Arc<Conns<SqliteConnection>>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                break;
            }
            let checkpoint = async {
                let mut conn = pool.lease().await?;
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&mut *conn)
                    .await?;
                conn.done();
                Ok::<_, sqlx::Error>(())
            };
            if let Err(e) = checkpoint.await {
                if pool.is_closed() {
                    break;
                }
                tracing::warn!(error = %e, "SQLite checkpoint failed");
            }
        }
    });
}

/// Unique-constraint violations become [`StoreError::Conflict`].
pub(crate) fn conflict(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(err),
    }
}
