//! OAuth clients, one registry per issuer.

use sqlx::Row;

use crate::model::{list_json, parse_json, parse_list};
use crate::{Client, ClientId, IssuerId, Result, Store, conflict, on_pool};

macro_rules! client_columns {
    () => {
        "issuer, id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, id_token_alg, metadata, created_at, updated_at"
    };
}

macro_rules! client_from_row {
    ($row:expr) => {{
        let row = $row;
        Client {
            issuer: IssuerId(row.try_get("issuer")?),
            id: ClientId(row.try_get("id")?),
            name: row.try_get("name")?,
            secret_hash: row.try_get("secret_hash")?,
            public: row.try_get("public")?,
            redirect_uris: parse_list(row.try_get::<&str, _>("redirect_uris")?)?,
            post_logout_redirect_uris: parse_list(
                row.try_get::<&str, _>("post_logout_redirect_uris")?,
            )?,
            id_token_alg: row.try_get("id_token_alg")?,
            metadata: parse_json(row.try_get::<&str, _>("metadata")?)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

impl Store {
    /// Fails with [`crate::StoreError::Conflict`] when the id is taken at that issuer.
    pub async fn create_client(&self, client: &Client) -> Result<()> {
        let sql = concat!(
            "INSERT INTO clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        on_pool!(self, write, pool => {
            sqlx::query(sql)
                .bind(client.issuer.as_str())
                .bind(client.id.as_str())
                .bind(&client.name)
                .bind(&client.secret_hash)
                .bind(client.public)
                .bind(list_json(&client.redirect_uris))
                .bind(list_json(&client.post_logout_redirect_uris))
                .bind(&client.id_token_alg)
                .bind(client.metadata.to_string())
                .bind(client.created_at)
                .bind(client.updated_at)
                .execute(pool)
                .await
                .map_err(conflict)?;
        });
        Ok(())
    }

    pub async fn find_client(&self, issuer: &IssuerId, id: &ClientId) -> Result<Option<Client>> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE issuer = $1 AND id = $2"
        );
        on_pool!(self, read, pool => {
            let row = sqlx::query(sql)
                .bind(issuer.as_str())
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(client_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    pub async fn list_clients(&self, issuer: &IssuerId) -> Result<Vec<Client>> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE issuer = $1 ORDER BY created_at, id"
        );
        on_pool!(self, read, pool => {
            let rows = sqlx::query(sql).bind(issuer.as_str()).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(client_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Replaces the client's settings: everything but the id, issuer, creation time, type
    /// (public or confidential) and secret, which [`Store::update_client_secret`] changes, so
    /// that an edit and a secret rotation racing each other cannot undo one another. Returns
    /// false when absent.
    pub async fn update_client(&self, client: &Client) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE clients SET name = $3, redirect_uris = $4, post_logout_redirect_uris = $5, \
                 id_token_alg = $6, metadata = $7, updated_at = $8 WHERE issuer = $1 AND id = $2",
            )
            .bind(client.issuer.as_str())
            .bind(client.id.as_str())
            .bind(&client.name)
            .bind(list_json(&client.redirect_uris))
            .bind(list_json(&client.post_logout_redirect_uris))
            .bind(&client.id_token_alg)
            .bind(client.metadata.to_string())
            .bind(client.updated_at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Sets a confidential client's secret digest. Returns false when there is no such
    /// confidential client.
    pub async fn update_client_secret(
        &self,
        issuer: &IssuerId,
        id: &ClientId,
        secret_hash: &str,
        now: i64,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE clients SET secret_hash = $3, updated_at = $4 \
                 WHERE issuer = $1 AND id = $2 AND secret_hash IS NOT NULL",
            )
            .bind(issuer.as_str())
            .bind(id.as_str())
            .bind(secret_hash)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Deletes the client and revokes every grant it holds. Returns false when absent.
    pub async fn delete_client(&self, issuer: &IssuerId, id: &ClientId, now: i64) -> Result<bool> {
        on_pool!(self, write, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("DELETE FROM clients WHERE issuer = $1 AND id = $2")
                .bind(issuer.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("UPDATE grants SET revoked_at = $3 WHERE issuer = $1 AND client_id = $2 AND revoked_at IS NULL")
                .bind(issuer.as_str())
                .bind(id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for sql in [
                "DELETE FROM consents WHERE issuer = $1 AND client_id = $2",
                "DELETE FROM client_logos WHERE issuer = $1 AND client_id = $2",
            ] {
                sqlx::query(sql)
                    .bind(issuer.as_str())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }
}
