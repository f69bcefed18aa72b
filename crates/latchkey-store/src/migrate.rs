//! Migrations, one ordered list per backend, embedded in the binary. A version table records
//! what has been applied; each migration runs in its own transaction. On PostgreSQL an
//! advisory lock serialises replicas that start together.

use sqlx::Connection;

use crate::{Backend, Result, Store};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, include_str!("../migrations/sqlite/0002_directory.sql")),
    (3, include_str!("../migrations/sqlite/0003_issuer_ids.sql")),
    (4, include_str!("../migrations/sqlite/0004_people.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_proxy_sessions.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_device_codes.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_logos_and_activity.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../migrations/postgres/0002_directory.sql")),
    (
        3,
        include_str!("../migrations/postgres/0003_issuer_ids.sql"),
    ),
    (4, include_str!("../migrations/postgres/0004_people.sql")),
    (
        5,
        include_str!("../migrations/postgres/0005_proxy_sessions.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgres/0006_device_codes.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_logos_and_activity.sql"),
    ),
];

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS latchkey_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
const CLAIM_VERSION: &str = "INSERT INTO latchkey_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING";
/// Any constant shared by every replica of this schema.
const PG_LOCK_KEY: i64 = 0x6c61_7463_686b_6579;

macro_rules! apply {
    ($conn:expr, $list:expr) => {{
        sqlx::query(VERSION_TABLE).execute(&mut *$conn).await?;
        for (version, sql) in $list {
            let mut tx = $conn.begin().await?;
            let claimed = sqlx::query(CLAIM_VERSION)
                .bind(*version)
                .bind(crate::model::unix_now())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 1 {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(version, "applied database migration");
            }
            tx.commit().await?;
        }
    }};
}

pub(crate) async fn run(store: &Store) -> Result<()> {
    match &store.backend {
        Backend::Sqlite { write, .. } => {
            let mut conn = write.lease().await?;
            apply!(conn, SQLITE);
        }
        Backend::Postgres(pool) => {
            let mut conn = pool.lease().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *conn)
                .await?;
            let result: Result<()> = async {
                apply!(conn, POSTGRES);
                Ok(())
            }
            .await;
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *conn)
                .await;
            result?;
        }
    }
    Ok(())
}
