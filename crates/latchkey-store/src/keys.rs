//! Signing keys, sealed with the instance encryption key before they reach the database.

use sqlx::Row;

use crate::{IssuerId, Result, SigningKeyRecord, Store, conflict, on_pool};

impl Store {
    pub async fn create_signing_key(&self, key: &SigningKeyRecord) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO signing_keys (kid, issuer, alg, sealed_key, created_at, retired_at, publish_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&key.kid)
            .bind(key.issuer.as_str())
            .bind(&key.alg)
            .bind(&key.sealed_key)
            .bind(key.created_at)
            .bind(key.retired_at)
            .bind(key.publish_until)
            .execute(pool)
            .await
            .map_err(conflict)?;
        });
        Ok(())
    }

    /// Every key of the issuer still published, newest first.
    pub async fn list_signing_keys(
        &self,
        issuer: &IssuerId,
        now: i64,
    ) -> Result<Vec<SigningKeyRecord>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(
                "SELECT kid, issuer, alg, sealed_key, created_at, retired_at, publish_until FROM signing_keys \
                 WHERE issuer = $1 AND (publish_until IS NULL OR publish_until > $2) ORDER BY created_at DESC, kid",
            )
            .bind(issuer.as_str())
            .bind(now)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(SigningKeyRecord {
                    kid: row.try_get("kid")?,
                    issuer: IssuerId(row.try_get("issuer")?),
                    alg: row.try_get("alg")?,
                    sealed_key: row.try_get("sealed_key")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                    publish_until: row.try_get("publish_until")?,
                });
            }
            Ok(out)
        })
    }

    /// Installs `key` as the current key for its algorithm and retires the previous ones,
    /// which stay published until `publish_until` so tokens they signed still verify.
    pub async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        now: i64,
        publish_until: i64,
    ) -> Result<()> {
        on_pool!(self, write, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $3, publish_until = $4 \
                 WHERE issuer = $1 AND alg = $2 AND retired_at IS NULL",
            )
            .bind(key.issuer.as_str())
            .bind(&key.alg)
            .bind(now)
            .bind(publish_until)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, issuer, alg, sealed_key, created_at, retired_at, publish_until) \
                 VALUES ($1, $2, $3, $4, $5, NULL, NULL)",
            )
            .bind(&key.kid)
            .bind(key.issuer.as_str())
            .bind(&key.alg)
            .bind(&key.sealed_key)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict)?;
            tx.commit().await?;
        });
        Ok(())
    }
}
