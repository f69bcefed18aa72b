//! Passkeys, and the WebAuthn ceremonies already finished.

use sqlx::Row;

use crate::model::{list_json, parse_list};
use crate::{Passkey, Result, Store, UserId, conflict, on_pool};

macro_rules! passkey_columns {
    () => {
        "credential_id, user_id, name, public_key, sign_count, backup_eligible, backup_state, \
         transports, aaguid, created_at, last_used_at"
    };
}

macro_rules! passkey_from_row {
    ($row:expr) => {{
        let row = $row;
        Passkey {
            credential_id: row.try_get("credential_id")?,
            user_id: UserId(row.try_get("user_id")?),
            name: row.try_get("name")?,
            public_key: row.try_get("public_key")?,
            sign_count: row.try_get("sign_count")?,
            backup_eligible: row.try_get("backup_eligible")?,
            backup_state: row.try_get("backup_state")?,
            transports: parse_list(row.try_get::<&str, _>("transports")?)?,
            aaguid: row.try_get("aaguid")?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
        }
    }};
}

/// What a verified sign-in changes on the passkey.
#[derive(Clone, Copy, Debug)]
pub struct PasskeyUse {
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub at: i64,
}

impl Store {
    /// Fails with [`crate::StoreError::Conflict`] when the credential id is registered
    /// already (to anyone), and [`crate::StoreError::NotFound`]-like database errors when the
    /// user does not exist.
    pub async fn create_passkey(&self, p: &Passkey) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(concat!(
                "INSERT INTO passkeys (", passkey_columns!(), ") \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(&p.credential_id)
            .bind(p.user_id.as_str())
            .bind(&p.name)
            .bind(&p.public_key)
            .bind(p.sign_count)
            .bind(p.backup_eligible)
            .bind(p.backup_state)
            .bind(list_json(&p.transports))
            .bind(&p.aaguid)
            .bind(p.created_at)
            .bind(p.last_used_at)
            .execute(pool)
            .await
            .map_err(conflict)?;
        });
        Ok(())
    }

    pub async fn find_passkey(&self, credential_id: &str) -> Result<Option<Passkey>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE credential_id = $1"))
                .bind(credential_id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => Some(passkey_from_row!(row)),
                None => None,
            })
        })
    }

    /// A person's passkeys, oldest first.
    pub async fn list_passkeys(&self, user: &UserId) -> Result<Vec<Passkey>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(concat!(
                "SELECT ", passkey_columns!(), " FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id"
            ))
            .bind(user.as_str())
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(passkey_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Records a sign-in with the passkey, only if its counter is still `seen_count`: of two
    /// sign-ins racing with the same assertion, one wins.
    pub async fn update_passkey_use(
        &self,
        credential_id: &str,
        seen_count: i64,
        used: PasskeyUse,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE passkeys SET sign_count = $3, backup_eligible = $4, backup_state = $5, last_used_at = $6 \
                 WHERE credential_id = $1 AND sign_count = $2",
            )
            .bind(credential_id)
            .bind(seen_count)
            .bind(used.sign_count)
            .bind(used.backup_eligible)
            .bind(used.backup_state)
            .bind(used.at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    pub async fn update_passkey_name(
        &self,
        user: &UserId,
        credential_id: &str,
        name: &str,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("UPDATE passkeys SET name = $3 WHERE credential_id = $1 AND user_id = $2")
                .bind(credential_id)
                .bind(user.as_str())
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    pub async fn delete_passkey(&self, user: &UserId, credential_id: &str) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM passkeys WHERE credential_id = $1 AND user_id = $2")
                .bind(credential_id)
                .bind(user.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Marks a ceremony (by an id derived from its challenge) as finished. False when it was
    /// finished before: each ceremony is used once, whichever replica sees it.
    pub async fn create_used_ceremony(&self, id: &str, expires_at: i64) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "INSERT INTO used_ceremonies (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }
}
