//! SQLite connections held by the store itself rather than by a sqlx pool. Every sqlx-sqlite
//! connection runs on a thread of its own, so each command is a hand-off to that thread and
//! back; a sqlx pool adds two more for every query (a ping when a connection is handed out
//! and another when it is returned). Here a query costs one: a lease is a semaphore permit
//! and a connection taken from a list, and dropping it puts the connection back.
//!
//! A dropped query or transaction leaves nothing behind: commands to one connection run in
//! order on its thread, and sqlx queues the rollback of a transaction that was not finished.

use std::sync::Mutex;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) struct SqliteConns {
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    /// Connections made so far (idle or leased); more are opened only when all are busy, so
    /// an idle server holds one (each costs a thread and a page cache).
    opened: std::sync::atomic::AtomicUsize,
    permits: Semaphore,
    count: usize,
    /// Closed: no lease is handed out any more.
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SqliteConns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConns")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

pub(crate) struct Lease<'a> {
    conn: Option<SqliteConnection>,
    conns: &'a SqliteConns,
    _permit: SemaphorePermit<'a>,
}

impl SqliteConns {
    /// Up to `count` connections with `options`; the first is opened now, to fail early.
    pub(crate) async fn open(
        options: &SqliteConnectOptions,
        count: usize,
    ) -> Result<SqliteConns, sqlx::Error> {
        let first = options.connect().await?;
        Ok(SqliteConns {
            options: options.clone(),
            idle: Mutex::new(vec![first]),
            opened: std::sync::atomic::AtomicUsize::new(1),
            permits: Semaphore::new(count),
            count,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A connection, waiting while all are in use.
    pub(crate) async fn lease(&self) -> Result<Lease<'_>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            // Holding a permit with no idle connection means fewer than `count` are open.
            None => {
                let conn = self.options.connect().await?;
                self.opened
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                conn
            }
        };
        Ok(Lease {
            conn: Some(conn),
            conns: self,
            _permit: permit,
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Closes every connection once it is back; later leases fail.
    pub(crate) async fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        tracing::debug!(
            opened = self.opened.load(std::sync::atomic::Ordering::Relaxed),
            "closing SQLite connections"
        );
        // Wait for the leased ones to come back, then close them all.
        if let Ok(all) = self.permits.acquire_many(count).await {
            all.forget();
        }
        self.permits.close();
        let conns: Vec<SqliteConnection> =
            std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for c in conns {
            let _ = c.close().await;
        }
    }
}

impl std::ops::Deref for Lease<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.conns
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
    }
}
