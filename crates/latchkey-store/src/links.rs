//! One-time links: kept as digests, taken once.

use sqlx::Row;

use crate::{IssuerId, LinkPurpose, OneTimeLink, Result, Store, StoreError, UserId, on_pool};

macro_rules! link_from_row {
    ($row:expr) => {{
        let row = $row;
        let purpose: &str = row.try_get("purpose")?;
        let user_id: String = row.try_get("user_id")?;
        OneTimeLink {
            token_hash: row.try_get("token_hash")?,
            issuer: IssuerId(row.try_get("issuer")?),
            purpose: LinkPurpose::parse(purpose)
                .ok_or_else(|| StoreError::Malformed(format!("link purpose {purpose}")))?,
            user_id: (!user_id.is_empty()).then_some(UserId(user_id)),
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        }
    }};
}

impl Store {
    pub async fn create_one_time_link(&self, l: &OneTimeLink) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO one_time_links (token_hash, issuer, purpose, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&l.token_hash)
            .bind(l.issuer.as_str())
            .bind(l.purpose.as_str())
            .bind(l.user_id.as_ref().map_or("", |u| u.as_str()))
            .bind(l.created_at)
            .bind(l.expires_at)
            .execute(pool)
            .await
            .map_err(crate::conflict)?;
        });
        Ok(())
    }

    /// A live link, left in place (a page that shows what the link will do).
    pub async fn find_one_time_link(
        &self,
        issuer: &IssuerId,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<OneTimeLink>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT token_hash, issuer, purpose, user_id, created_at, expires_at FROM one_time_links \
                 WHERE token_hash = $1 AND issuer = $2 AND expires_at > $3",
            )
            .bind(token_hash)
            .bind(issuer.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(link_from_row!(row)))
        })
    }

    /// Takes a live link: it is deleted by the same statement that reads it, so two
    /// requests with one link cannot both succeed.
    pub async fn take_one_time_link(
        &self,
        issuer: &IssuerId,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<OneTimeLink>> {
        on_pool!(self, write, pool => {
            let row = sqlx::query(
                "DELETE FROM one_time_links WHERE token_hash = $1 AND issuer = $2 \
                 RETURNING token_hash, issuer, purpose, user_id, created_at, expires_at",
            )
            .bind(token_hash)
            .bind(issuer.as_str())
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let expires_at: i64 = row.try_get("expires_at")?;
            if expires_at <= now {
                return Ok(None);
            }
            Ok(Some(link_from_row!(row)))
        })
    }

    /// Deletes every link of `purpose` (a fresh setup link replaces older ones).
    pub async fn delete_one_time_links(
        &self,
        issuer: &IssuerId,
        purpose: LinkPurpose,
    ) -> Result<u64> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query("DELETE FROM one_time_links WHERE issuer = $1 AND purpose = $2")
                .bind(issuer.as_str())
                .bind(purpose.as_str())
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
