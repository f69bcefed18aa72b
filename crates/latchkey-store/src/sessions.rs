//! Browser sessions and consent records.

use sqlx::Row;

use crate::model::{list_json, parse_list};
use crate::{ClientId, Consent, IssuerId, Result, Session, Store, Subject, on_pool};

macro_rules! session_columns {
    () => {
        "id_hash, issuer, subject, auth_time, amr, created_at, expires_at, user_agent, ip, last_used_at"
    };
}

macro_rules! session_from_row {
    ($row:expr) => {{
        let row = $row;
        Session {
            id_hash: row.try_get("id_hash")?,
            issuer: IssuerId(row.try_get("issuer")?),
            subject: Subject(row.try_get("subject")?),
            auth_time: row.try_get("auth_time")?,
            amr: parse_list(row.try_get::<&str, _>("amr")?)?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            user_agent: row.try_get("user_agent")?,
            ip: row.try_get("ip")?,
            last_used_at: row.try_get("last_used_at")?,
        }
    }};
}

impl Store {
    pub async fn create_session(&self, s: &Session) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, issuer, subject, auth_time, amr, created_at, expires_at, \
                 user_agent, ip, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&s.id_hash)
            .bind(s.issuer.as_str())
            .bind(s.subject.as_str())
            .bind(s.auth_time)
            .bind(list_json(&s.amr))
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(&s.user_agent)
            .bind(&s.ip)
            .bind(s.last_used_at)
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
            let row = sqlx::query(concat!(
                "SELECT ", session_columns!(), " FROM sessions \
                 WHERE id_hash = $1 AND issuer = $2 AND expires_at > $3"
            ))
            .bind(id_hash)
            .bind(issuer.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(session_from_row!(row)))
        })
    }

    /// A person's live sessions, most recently used first.
    pub async fn list_sessions(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        now: i64,
    ) -> Result<Vec<Session>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(concat!(
                "SELECT ", session_columns!(), " FROM sessions \
                 WHERE issuer = $1 AND subject = $2 AND expires_at > $3 \
                 ORDER BY last_used_at DESC, created_at DESC"
            ))
            .bind(issuer.as_str())
            .bind(subject.as_str())
            .bind(now)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(session_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Records a use of the session, if the last one recorded is older than `older_than`.
    pub async fn update_session_use(&self, id_hash: &str, now: i64, older_than: i64) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id_hash = $1 AND last_used_at < $3")
                .bind(id_hash)
                .bind(now)
                .bind(older_than)
                .execute(pool)
                .await?;
        });
        Ok(())
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

    /// Ends one of `subject`'s sessions (a person ending a session from their account page
    /// can name only their own).
    pub async fn delete_subject_session(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        id_hash: &str,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND issuer = $2 AND subject = $3")
                .bind(id_hash)
                .bind(issuer.as_str())
                .bind(subject.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Ends every session of `subject` (an account disabled or deleted); how many.
    pub async fn delete_subject_sessions(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
    ) -> Result<u64> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query("DELETE FROM sessions WHERE issuer = $1 AND subject = $2")
                .bind(issuer.as_str())
                .bind(subject.as_str())
                .execute(pool)
                .await?
                .rows_affected())
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
