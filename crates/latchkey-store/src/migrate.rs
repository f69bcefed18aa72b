//! Migrations, one ordered list per backend, embedded in the binary. A version table records
//! what has been applied; each migration runs in its own transaction.

use crate::{Backend, Result, Store, on_pool};

const SQLITE: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_initial.sql"))];
const POSTGRES: &[(i64, &str)] = &[(1, include_str!("../migrations/postgres/0001_initial.sql"))];

pub(crate) async fn run(store: &Store) -> Result<()> {
    let list = match store.backend {
        Backend::Sqlite { .. } => SQLITE,
        Backend::Postgres(_) => POSTGRES,
    };
    on_pool!(store, write, pool => {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS latchkey_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(pool)
        .await?;
    });
    for (version, sql) in list {
        on_pool!(store, write, pool => {
            let mut tx = pool.begin().await?;
            // Replicas starting together: the first to insert the version row applies it;
            // PostgreSQL makes the others wait on that row and then skip.
            let inserted = sqlx::query(
                "INSERT INTO latchkey_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING",
            )
            .bind(*version)
            .bind(crate::model::unix_now())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                tracing::info!(version, "applied database migration");
            }
            tx.commit().await?;
        });
    }
    Ok(())
}
