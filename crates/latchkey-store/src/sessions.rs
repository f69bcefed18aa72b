//! Browser sessions and consent records.

use sqlx::Row;

use crate::model::{list_json, parse_list};
use crate::{ClientId, Consent, IssuerId, Result, Session, Store, Subject, on_pool};

impl Store {
    pub async fn create_session(&self, s: &Session) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, issuer, subject, auth_time, amr, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&s.id_hash)
            .bind(s.issuer.as_str())
            .bind(s.subject.as_str())
            .bind(s.auth_time)
            .bind(list_json(&s.amr))
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(pool)
            .await
            .map_err(crate::conflict)?;
        });
        Ok(())
    }

    /// A live session by the digest of its cookie value.
    pub async fn find_session(
        &self,
        issuer: &IssuerId,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<Session>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT id_hash, issuer, subject, auth_time, amr, created_at, expires_at FROM sessions \
                 WHERE id_hash = $1 AND issuer = $2 AND expires_at > $3",
            )
            .bind(id_hash)
            .bind(issuer.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Session {
                id_hash: row.try_get("id_hash")?,
                issuer: IssuerId(row.try_get("issuer")?),
                subject: Subject(row.try_get("subject")?),
                auth_time: row.try_get("auth_time")?,
                amr: parse_list(row.try_get::<&str, _>("amr")?)?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            }))
        })
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Records (or widens) what `subject` agreed to share with `client`.
    pub async fn upsert_consent(&self, c: &Consent) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO consents (issuer, subject, client_id, scope, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (issuer, subject, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
            )
            .bind(c.issuer.as_str())
            .bind(c.subject.as_str())
            .bind(c.client_id.as_str())
            .bind(&c.scope)
            .bind(c.created_at)
            .bind(c.updated_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn find_consent(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        client_id: &ClientId,
    ) -> Result<Option<Consent>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT issuer, subject, client_id, scope, created_at, updated_at FROM consents \
                 WHERE issuer = $1 AND subject = $2 AND client_id = $3",
            )
            .bind(issuer.as_str())
            .bind(subject.as_str())
            .bind(client_id.as_str())
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Consent {
                issuer: IssuerId(row.try_get("issuer")?),
                subject: Subject(row.try_get("subject")?),
                client_id: ClientId(row.try_get("client_id")?),
                scope: row.try_get("scope")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            }))
        })
    }

    pub async fn delete_consent(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        client_id: &ClientId,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM consents WHERE issuer = $1 AND subject = $2 AND client_id = $3")
                .bind(issuer.as_str())
                .bind(subject.as_str())
                .bind(client_id.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }
}
