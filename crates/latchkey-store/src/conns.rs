//! Database connections held by the store itself rather than by a sqlx pool. A sqlx pool pings
//! a connection when it takes it back (and, by default, when it hands it out): on SQLite, where
//! every connection runs on a thread of its own, each ping is two more thread hand-offs per
//! query; on PostgreSQL, a network round trip. Here a lease is a semaphore permit and a
//! connection taken from a list, and dropping it puts the connection back.
//!
//! A connection is pinged before use only when there is a reason to doubt it: its last lease
//! did not end with [`Lease::done`] (the query failed, or its future was dropped halfway), or
//! it has been idle for [`IDLE_BEFORE_PING`]. One that fails the ping is closed and replaced.
//! A dropped transaction leaves nothing behind: sqlx rolls it back before the connection's
//! next command.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Connections idle longer than this are pinged before use (a server restart or a proxy may
/// have dropped them).
pub(crate) const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

struct Idle<C> {
    conn: C,
    since: Instant,
    /// Its last lease did not end cleanly.
    suspect: bool,
}

pub(crate) struct Conns<C: Connection> {
    options: C::Options,
    idle: Mutex<Vec<Idle<C>>>,
    permits: Semaphore,
    count: usize,
    acquire_timeout: Duration,
    /// Connections made so far; more are opened only when all are busy.
    opened: AtomicUsize,
    closed: AtomicBool,
}

impl<C: Connection> std::fmt::Debug for Conns<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

pub(crate) struct Lease<'a, C: Connection> {
    conn: Option<C>,
    clean: bool,
    conns: &'a Conns<C>,
    _permit: SemaphorePermit<'a>,
}

impl<C: Connection> Conns<C> {
    /// Up to `count` connections made with `first`'s options; `first` is the one opened by
    /// the caller (so that its connection errors are the caller's to report).
    pub(crate) fn new(
        first: C,
        options: C::Options,
        count: usize,
        acquire_timeout: Duration,
    ) -> Self {
        Conns {
            options,
            idle: Mutex::new(vec![Idle {
                conn: first,
                since: Instant::now(),
                suspect: false,
            }]),
            permits: Semaphore::new(count),
            count,
            acquire_timeout,
            opened: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
        }
    }

    /// A connection, waiting up to the acquire timeout while all are in use.
    pub(crate) async fn lease(&self) -> Result<Lease<'_, C>, sqlx::Error> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(i) if !i.suspect && i.since.elapsed() < IDLE_BEFORE_PING => i.conn,
            Some(mut i) => match i.conn.ping().await {
                Ok(()) => i.conn,
                Err(e) => {
                    tracing::info!(error = %e, "a database connection failed its check; replacing it");
                    let _ = i.conn.close_hard().await;
                    self.options.connect().await?
                }
            },
            // Holding a permit with no idle connection means fewer than `count` are open.
            None => {
                let conn = self.options.connect().await?;
                self.opened.fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        Ok(Lease {
            conn: Some(conn),
            clean: false,
            conns: self,
            _permit: permit,
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes every connection once it is back; later leases fail.
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        if let Ok(all) = self.permits.acquire_many(count).await {
            all.forget();
        }
        self.permits.close();
        let conns = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        tracing::debug!(
            opened = self.opened.load(Ordering::Relaxed),
            "closing database connections"
        );
        for i in conns {
            let _ = i.conn.close().await;
        }
    }
}

impl<C: Connection> Lease<'_, C> {
    /// The work on this connection ended normally: it goes back unquestioned.
    pub(crate) fn done(&mut self) {
        self.clean = true;
    }
}

impl<C: Connection> std::ops::Deref for Lease<'_, C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl<C: Connection> std::ops::DerefMut for Lease<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl<C: Connection> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.conns
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Idle {
                    conn,
                    since: Instant::now(),
                    suspect: !self.clean,
                });
        }
    }
}
