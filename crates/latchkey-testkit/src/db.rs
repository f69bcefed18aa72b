use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use latchkey_store::Store;
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every backend the store suite must pass on.
pub fn backends() -> [Backend; 2] {
    [Backend::Sqlite, Backend::Postgres]
}

/// PostgreSQL server used by the tests: `LATCHKEY_TEST_DATABASE_URL`, else the local server.
pub fn pg_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A self-signed CA certificate (PEM) that signed nothing: as `sslrootcert`, the PostgreSQL
/// server's certificate must be refused. Made once with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500
/// -subj "/CN=Latchkey test CA that signed nothing"`; its key was thrown away.
pub fn untrusted_ca_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/untrusted-ca.pem"
    ))
}

/// `url` with `query` (`key=value&…`) added to its query string.
pub fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// A database of its own for one test: a SQLite file in a fresh directory, or a freshly
/// created PostgreSQL database. Dropped with [`TestDb::cleanup`].
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub dir: PathBuf,
    pg_name: Option<String>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let name = unique("latchkey_test");
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("create test dir");
        match backend {
            Backend::Sqlite => TestDb {
                backend,
                url: format!("sqlite://{}", dir.join("latchkey.db").display()),
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at {admin} is required for the store suite: {e}")
                    });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestDb {
                    backend,
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect store")
    }

    /// Removes the database; call at the end of the test (a failed test leaves it behind,
    /// which helps to look at it).
    pub async fn cleanup(self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await
        {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `test` with a fresh store on each backend (SQLite, then PostgreSQL), closing and
/// dropping each database afterwards.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        test(store.clone()).await;
        store.close().await;
        db.cleanup().await;
    }
}
