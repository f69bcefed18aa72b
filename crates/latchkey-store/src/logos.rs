//! Client logos: small images kept beside the client, replaced whole.

use sqlx::Row;

use crate::{ClientId, IssuerId, Result, Store, on_pool};

/// An image and its media type, as checked by whoever stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub content_type: String,
    pub data: Vec<u8>,
    pub updated_at: i64,
}

impl Store {
    /// Sets (or replaces) the logo of a client.
    pub async fn put_client_logo(
        &self,
        issuer: &IssuerId,
        client: &ClientId,
        logo: &Logo,
    ) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO client_logos (issuer, client_id, content_type, data, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, client_id) DO UPDATE SET \
                 content_type = excluded.content_type, data = excluded.data, updated_at = excluded.updated_at",
            )
            .bind(issuer.as_str())
            .bind(client.as_str())
            .bind(&logo.content_type)
            .bind(&logo.data)
            .bind(logo.updated_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn client_logo(&self, issuer: &IssuerId, client: &ClientId) -> Result<Option<Logo>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT content_type, data, updated_at FROM client_logos WHERE issuer = $1 AND client_id = $2",
            )
            .bind(issuer.as_str())
            .bind(client.as_str())
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(Logo {
                content_type: row.try_get("content_type")?,
                data: row.try_get("data")?,
                updated_at: row.try_get("updated_at")?,
            }))
        })
    }

    /// Which clients of `issuer` have a logo, with when it last changed (for cache-busting
    /// links in lists).
    pub async fn client_logo_versions(&self, issuer: &IssuerId) -> Result<Vec<(ClientId, i64)>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query("SELECT client_id, updated_at FROM client_logos WHERE issuer = $1")
                .bind(issuer.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((ClientId(r.try_get("client_id")?), r.try_get("updated_at")?)))
                .collect()
        })
    }

    pub async fn delete_client_logo(&self, issuer: &IssuerId, client: &ClientId) -> Result<bool> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query("DELETE FROM client_logos WHERE issuer = $1 AND client_id = $2")
                .bind(issuer.as_str())
                .bind(client.as_str())
                .execute(pool)
                .await?
                .rows_affected()
                == 1)
        })
    }
}
