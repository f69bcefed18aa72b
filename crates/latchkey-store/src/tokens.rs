//! Grants, refresh tokens and the access-token deny-list.
//!
//! Access tokens are self-contained JWTs and are not stored when issued: revoking one adds its
//! `jti` to a deny-list kept until the token would have expired, and revoking a grant denies
//! every token that names it. A grant id can be inserted once (it is an authorization code's
//! single-use marker) and a refresh token is consumed by one conditional UPDATE: the database
//! alone decides who wins a race.

use sqlx::Row;

use crate::{
    ClientId, Grant, GrantId, IssuerId, Redemption, RefreshToken, Result, Store, Subject, conflict,
    on_pool,
};

macro_rules! refresh_columns {
    () => {
        "token_hash, issuer, grant_id, client_id, subject, scope, auth_time, extra, created_at, expires_at, used_at"
    };
}
macro_rules! grant_columns {
    () => {
        "id, issuer, client_id, subject, scope, auth_time, snapshot, created_at, expires_at, revoked_at"
    };
}

macro_rules! refresh_from_row {
    ($row:expr) => {{
        let row = $row;
        RefreshToken {
            token_hash: row.try_get("token_hash")?,
            issuer: IssuerId(row.try_get("issuer")?),
            grant_id: GrantId(row.try_get("grant_id")?),
            client_id: ClientId(row.try_get("client_id")?),
            subject: Subject(row.try_get("subject")?),
            scope: row.try_get("scope")?,
            auth_time: row.try_get("auth_time")?,
            extra: crate::model::parse_json(row.try_get::<&str, _>("extra")?)?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        }
    }};
}

macro_rules! grant_from_row {
    ($row:expr) => {{
        let row = $row;
        Grant {
            id: GrantId(row.try_get("id")?),
            issuer: IssuerId(row.try_get("issuer")?),
            client_id: ClientId(row.try_get("client_id")?),
            subject: Subject(row.try_get("subject")?),
            scope: row.try_get("scope")?,
            auth_time: row.try_get("auth_time")?,
            snapshot: row.try_get("snapshot")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
        }
    }};
}

/// `INSERT INTO grants … VALUES ($1 … $9, ` — the caller ends it with the `revoked_at` value.
macro_rules! insert_grant {
    () => {
        "INSERT INTO grants (id, issuer, client_id, subject, scope, auth_time, snapshot, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    };
}

macro_rules! bind_grant {
    ($query:expr, $g:expr) => {{
        let g = $g;
        $query
            .bind(g.id.as_str())
            .bind(g.issuer.as_str())
            .bind(g.client_id.as_str())
            .bind(g.subject.as_str())
            .bind(&g.scope)
            .bind(g.auth_time)
            .bind(&g.snapshot)
            .bind(g.created_at)
            .bind(g.expires_at)
    }};
}

macro_rules! refresh_insert_columns {
    () => {
        "INSERT INTO refresh_tokens (token_hash, issuer, grant_id, client_id, subject, scope, auth_time, extra, created_at, expires_at, used_at) "
    };
}

macro_rules! bind_refresh {
    ($query:expr, $t:expr) => {{
        let t = $t;
        $query
            .bind(&t.token_hash)
            .bind(t.issuer.as_str())
            .bind(t.grant_id.as_str())
            .bind(t.client_id.as_str())
            .bind(t.subject.as_str())
            .bind(&t.scope)
            .bind(t.auth_time)
            .bind(t.extra.to_string())
            .bind(t.created_at)
            .bind(t.expires_at)
    }};
}

macro_rules! insert_refresh {
    ($executor:expr, $t:expr) => {{
        bind_refresh!(
            sqlx::query(concat!(
                refresh_insert_columns!(),
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)"
            )),
            $t
        )
        .execute($executor)
        .await
        .map_err(conflict)?;
    }};
}

impl Store {
    /// Records a grant and, when given, its first refresh token, atomically. A grant
    /// id that exists already gives [`crate::StoreError::Conflict`] and nothing is written.
    pub async fn create_grant(&self, grant: &Grant, refresh: Option<&RefreshToken>) -> Result<()> {
        let Some(t) = refresh else {
            on_pool!(self, write, pool => {
                bind_grant!(sqlx::query(concat!(insert_grant!(), "NULL)")), grant)
                    .execute(pool)
                    .await
                    .map_err(conflict)?;
            });
            return Ok(());
        };
        // One statement on either backend, so both rows are stored or neither, in one round
        // trip: on SQLite an INSTEAD OF trigger on a view (migration 0003) inserts both.
        let sql = match &self.backend {
            crate::Backend::Sqlite { .. } => {
                "INSERT INTO grant_with_refresh (id, issuer, client_id, subject, scope, auth_time, snapshot, created_at, expires_at, \
                 token_hash, r_issuer, r_grant_id, r_client_id, r_subject, r_scope, r_auth_time, r_extra, r_created_at, r_expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
            }
            crate::Backend::Postgres(_) => concat!(
                "WITH g AS (",
                insert_grant!(),
                "NULL) RETURNING id) ",
                refresh_insert_columns!(),
                "SELECT $10, $11, g.id, $13, $14, $15, $16, $17, $18, $19, NULL FROM g"
            ),
        };
        on_pool!(self, write, pool => {
            bind_refresh!(bind_grant!(sqlx::query(sql), grant), t)
                .execute(pool)
                .await
                .map_err(conflict)?;
        });
        Ok(())
    }

    /// A person's grants that are neither revoked nor expired (for logging them out of
    /// their clients).
    pub async fn list_live_grants(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        now: i64,
    ) -> Result<Vec<Grant>> {
        let sql = concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants WHERE issuer = $1 AND subject = $2 AND revoked_at IS NULL AND expires_at > $3"
        );
        on_pool!(self, read, pool => {
            let rows = sqlx::query(sql)
                .bind(issuer.as_str())
                .bind(subject.as_str())
                .bind(now)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(grant_from_row!(&row));
            }
            Ok(out)
        })
    }

    pub async fn find_grant(&self, id: &GrantId) -> Result<Option<Grant>> {
        let sql = concat!("SELECT ", grant_columns!(), " FROM grants WHERE id = $1");
        on_pool!(self, read, pool => {
            let row = sqlx::query(sql).bind(id.as_str()).fetch_optional(pool).await?;
            match row {
                Some(row) => Ok(Some(grant_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Revokes a grant: its refresh tokens stop working and its access tokens are denied.
    /// Returns false when it was absent or already revoked.
    pub async fn revoke_grant(&self, id: &GrantId, now: i64) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id.as_str())
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Swaps `old_hash` for a new refresh token built by `next` from the old record, in one
    /// transaction. Only a live token of `client_id` whose grant is not revoked is swapped;
    /// a token used before answers `Replayed` (reuse: the caller revokes the family).
    pub async fn rotate_refresh_token(
        &self,
        issuer: &IssuerId,
        old_hash: &str,
        client_id: &ClientId,
        now: i64,
        next: impl FnOnce(&RefreshToken) -> RefreshToken,
    ) -> Result<Redemption<RefreshToken>> {
        let update = concat!(
            "UPDATE refresh_tokens SET used_at = $4 WHERE token_hash = $1 AND issuer = $2 AND client_id = $3 \
             AND used_at IS NULL AND expires_at > $4 \
             AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL) RETURNING ",
            refresh_columns!()
        );
        let select = concat!(
            "SELECT ",
            refresh_columns!(),
            " FROM refresh_tokens WHERE token_hash = $1 AND issuer = $2 AND client_id = $3"
        );
        on_pool!(self, write, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(update)
                .bind(old_hash)
                .bind(issuer.as_str())
                .bind(client_id.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                let old = refresh_from_row!(&row);
                let new = next(&old);
                insert_refresh!(&mut *tx, &new);
                tx.commit().await?;
                return Ok(Redemption::Redeemed(old));
            }
            let row = sqlx::query(select)
                .bind(old_hash)
                .bind(issuer.as_str())
                .bind(client_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(match row {
                Some(row) => {
                    let old = refresh_from_row!(&row);
                    if old.used_at.is_some() {
                        Redemption::Replayed(old)
                    } else {
                        Redemption::NotFound
                    }
                }
                None => Redemption::NotFound,
            })
        })
    }

    pub async fn find_refresh_token(
        &self,
        issuer: &IssuerId,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>> {
        let sql = concat!(
            "SELECT ",
            refresh_columns!(),
            " FROM refresh_tokens WHERE token_hash = $1 AND issuer = $2"
        );
        on_pool!(self, read, pool => {
            let row = sqlx::query(sql)
                .bind(token_hash)
                .bind(issuer.as_str())
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(refresh_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Adds an access token's `jti` to the deny-list until `expires_at`.
    pub async fn revoke_access_token(
        &self,
        issuer: &IssuerId,
        jti: &str,
        expires_at: i64,
    ) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, issuer, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(issuer.as_str())
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// What an access token's validity depends on, in one read: whether its `jti` is denied,
    /// and its grant (if it names one and the grant exists).
    pub async fn access_token_state(
        &self,
        jti: &str,
        grant: Option<&GrantId>,
    ) -> Result<AccessTokenState> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM revoked_access_tokens WHERE jti = $1) AS denied, \
                 g.id, g.issuer, g.client_id, g.subject, g.scope, g.auth_time, g.snapshot, g.created_at, g.expires_at, g.revoked_at \
                 FROM (SELECT 1 AS one) AS one LEFT JOIN grants g ON g.id = $2",
            )
            .bind(jti)
            .bind(grant.map(|g| g.as_str()).unwrap_or(""))
            .fetch_one(pool)
            .await?;
            let denied: i64 = row.try_get("denied")?;
            let grant = match row.try_get::<Option<String>, _>("id")? {
                Some(_) => Some(grant_from_row!(&row)),
                None => None,
            };
            Ok(AccessTokenState { denied: denied > 0, grant })
        })
    }
}

/// See [`Store::access_token_state`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenState {
    /// The token's own `jti` was revoked.
    pub denied: bool,
    pub grant: Option<Grant>,
}
