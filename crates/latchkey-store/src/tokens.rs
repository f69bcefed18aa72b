//! Grants, authorization codes, refresh tokens and the access-token deny-list.
//!
//! Access tokens are self-contained JWTs and are not stored when issued: revoking one adds its
//! `jti` to a deny-list kept until the token would have expired, and revoking a grant denies
//! every token that names it. Codes and refresh tokens are single-use: the conditional UPDATE
//! that consumes them is the only thing that decides who wins a race.

use sqlx::Row;

use crate::model::parse_role;
use crate::{
    AuthCode, ClientId, Grant, GrantId, Redemption, RefreshToken, Result, Role, Store, Subject,
    conflict, on_pool,
};

macro_rules! code_columns {
    () => {
        "code_hash, role, grant_id, client_id, redirect_uri, subject, scope, nonce, code_challenge, auth_time, extra, created_at, expires_at, redeemed_at"
    };
}
macro_rules! refresh_columns {
    () => {
        "token_hash, role, grant_id, client_id, subject, scope, auth_time, extra, created_at, expires_at, used_at"
    };
}
macro_rules! grant_columns {
    () => {
        "id, role, client_id, subject, scope, auth_time, claims, created_at, expires_at, revoked_at"
    };
}

macro_rules! code_from_row {
    ($row:expr) => {{
        let row = $row;
        AuthCode {
            code_hash: row.try_get("code_hash")?,
            role: parse_role(row.try_get::<&str, _>("role")?)?,
            grant_id: GrantId(row.try_get("grant_id")?),
            client_id: ClientId(row.try_get("client_id")?),
            redirect_uri: row.try_get("redirect_uri")?,
            subject: Subject(row.try_get("subject")?),
            scope: row.try_get("scope")?,
            nonce: row.try_get("nonce")?,
            code_challenge: row.try_get("code_challenge")?,
            auth_time: row.try_get("auth_time")?,
            extra: crate::model::parse_json(row.try_get::<&str, _>("extra")?)?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            redeemed_at: row.try_get("redeemed_at")?,
        }
    }};
}

macro_rules! refresh_from_row {
    ($row:expr) => {{
        let row = $row;
        RefreshToken {
            token_hash: row.try_get("token_hash")?,
            role: parse_role(row.try_get::<&str, _>("role")?)?,
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
            role: parse_role(row.try_get::<&str, _>("role")?)?,
            client_id: ClientId(row.try_get("client_id")?),
            subject: Subject(row.try_get("subject")?),
            scope: row.try_get("scope")?,
            auth_time: row.try_get("auth_time")?,
            claims: crate::model::parse_json(row.try_get::<&str, _>("claims")?)?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
        }
    }};
}

/// `INSERT INTO grants … VALUES ($1 … $9, ` — the caller ends it with the `revoked_at` value.
macro_rules! insert_grant {
    () => {
        "INSERT INTO grants (id, role, client_id, subject, scope, auth_time, claims, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    };
}

macro_rules! bind_grant {
    ($query:expr, $g:expr) => {{
        let g = $g;
        $query
            .bind(g.id.as_str())
            .bind(g.role.as_str())
            .bind(g.client_id.as_str())
            .bind(g.subject.as_str())
            .bind(&g.scope)
            .bind(g.auth_time)
            .bind(g.claims.to_string())
            .bind(g.created_at)
            .bind(g.expires_at)
    }};
}

macro_rules! insert_refresh {
    ($executor:expr, $t:expr) => {{
        let t = $t;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, role, grant_id, client_id, subject, scope, auth_time, extra, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
        )
        .bind(&t.token_hash)
        .bind(t.role.as_str())
        .bind(t.grant_id.as_str())
        .bind(t.client_id.as_str())
        .bind(t.subject.as_str())
        .bind(&t.scope)
        .bind(t.auth_time)
        .bind(t.extra.to_string())
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute($executor)
        .await
        .map_err(conflict)?;
    }};
}

impl Store {
    pub async fn create_auth_code(&self, code: &AuthCode) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO auth_codes (code_hash, role, grant_id, client_id, redirect_uri, subject, scope, nonce, code_challenge, auth_time, extra, created_at, expires_at, redeemed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)",
            )
            .bind(&code.code_hash)
            .bind(code.role.as_str())
            .bind(code.grant_id.as_str())
            .bind(code.client_id.as_str())
            .bind(&code.redirect_uri)
            .bind(code.subject.as_str())
            .bind(&code.scope)
            .bind(&code.nonce)
            .bind(&code.code_challenge)
            .bind(code.auth_time)
            .bind(code.extra.to_string())
            .bind(code.created_at)
            .bind(code.expires_at)
            .execute(pool)
            .await
            .map_err(conflict)?;
        });
        Ok(())
    }

    /// Marks the code used. Exactly one caller ever gets `Redeemed` for a code; every later
    /// caller gets `Replayed`. Expiry and binding checks are the caller's.
    pub async fn redeem_auth_code(
        &self,
        role: Role,
        code_hash: &str,
        now: i64,
    ) -> Result<Redemption<AuthCode>> {
        let update = concat!(
            "UPDATE auth_codes SET redeemed_at = $3 WHERE code_hash = $1 AND role = $2 AND redeemed_at IS NULL RETURNING ",
            code_columns!()
        );
        let select = concat!(
            "SELECT ",
            code_columns!(),
            " FROM auth_codes WHERE code_hash = $1 AND role = $2"
        );
        on_pool!(self, write, pool => {
            let row = sqlx::query(update)
                .bind(code_hash)
                .bind(role.as_str())
                .bind(now)
                .fetch_optional(pool)
                .await?;
            if let Some(row) = row {
                return Ok(Redemption::Redeemed(code_from_row!(&row)));
            }
            let row = sqlx::query(select)
                .bind(code_hash)
                .bind(role.as_str())
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => Redemption::Replayed(code_from_row!(&row)),
                None => Redemption::NotFound,
            })
        })
    }

    /// Records a grant and, when given, its first refresh token, atomically.
    pub async fn create_grant(&self, grant: &Grant, refresh: Option<&RefreshToken>) -> Result<()> {
        on_pool!(self, write, pool => {
            let mut tx = pool.begin().await?;
            bind_grant!(sqlx::query(concat!(insert_grant!(), "NULL)")), grant)
            .execute(&mut *tx)
            .await
            .map_err(conflict)?;
            if let Some(t) = refresh {
                insert_refresh!(&mut *tx, t);
            }
            tx.commit().await?;
        });
        Ok(())
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

    /// Stores `grant` as revoked, or marks the existing row revoked. Used when a code is
    /// replayed, possibly before its first redemption has stored the grant: that redemption
    /// then finds the row taken and fails.
    pub async fn revoke_grant_upsert(&self, grant: &Grant) -> Result<()> {
        let revoked_at = grant.revoked_at.unwrap_or(grant.created_at);
        on_pool!(self, write, pool => {
            bind_grant!(
                sqlx::query(concat!(
                    insert_grant!(),
                    "$10) ON CONFLICT (id) DO UPDATE SET revoked_at = COALESCE(grants.revoked_at, excluded.revoked_at)"
                )),
                grant
            )
            .bind(revoked_at)
            .execute(pool)
            .await?;
        });
        Ok(())
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
        role: Role,
        old_hash: &str,
        client_id: &ClientId,
        now: i64,
        next: impl FnOnce(&RefreshToken) -> RefreshToken,
    ) -> Result<Redemption<RefreshToken>> {
        let update = concat!(
            "UPDATE refresh_tokens SET used_at = $4 WHERE token_hash = $1 AND role = $2 AND client_id = $3 \
             AND used_at IS NULL AND expires_at > $4 \
             AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL) RETURNING ",
            refresh_columns!()
        );
        let select = concat!(
            "SELECT ",
            refresh_columns!(),
            " FROM refresh_tokens WHERE token_hash = $1 AND role = $2 AND client_id = $3"
        );
        on_pool!(self, write, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(update)
                .bind(old_hash)
                .bind(role.as_str())
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
                .bind(role.as_str())
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
        role: Role,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>> {
        let sql = concat!(
            "SELECT ",
            refresh_columns!(),
            " FROM refresh_tokens WHERE token_hash = $1 AND role = $2"
        );
        on_pool!(self, read, pool => {
            let row = sqlx::query(sql)
                .bind(token_hash)
                .bind(role.as_str())
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(refresh_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Adds an access token's `jti` to the deny-list until `expires_at`.
    pub async fn revoke_access_token(&self, role: Role, jti: &str, expires_at: i64) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO revoked_access_tokens (jti, role, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(role.as_str())
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// True when the access token `jti`, or the grant it was issued under, has been revoked.
    pub async fn is_access_token_revoked(
        &self,
        jti: &str,
        grant: Option<&GrantId>,
    ) -> Result<bool> {
        on_pool!(self, read, pool => {
            let n: i64 = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM revoked_access_tokens WHERE jti = $1) \
                 + (SELECT COUNT(*) FROM grants WHERE id = $2 AND revoked_at IS NOT NULL) AS n",
            )
            .bind(jti)
            .bind(grant.map(|g| g.as_str()).unwrap_or(""))
            .fetch_one(pool)
            .await?
            .try_get("n")?;
            Ok(n > 0)
        })
    }
}
