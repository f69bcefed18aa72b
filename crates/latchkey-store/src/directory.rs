//! The directory: users, groups, memberships and custom claims.

use serde_json::{Map, Value};
use sqlx::Row;

use crate::model::parse_json;
use crate::{
    DirectoryClaims, Group, GroupId, Result, Store, StoreError, User, UserId, conflict, on_pool,
};

macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, first_name, last_name, display_name, is_admin, disabled, created_at, updated_at"
    };
}

macro_rules! user_from_row {
    ($row:expr) => {{
        let row = $row;
        User {
            id: UserId(row.try_get("id")?),
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            email_verified: row.try_get("email_verified")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            display_name: row.try_get("display_name")?,
            is_admin: row.try_get("is_admin")?,
            disabled: row.try_get("disabled")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

macro_rules! group_from_row {
    ($row:expr) => {{
        let row = $row;
        Group {
            id: GroupId(row.try_get("id")?),
            name: row.try_get("name")?,
            friendly_name: row.try_get("friendly_name")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

/// Which user an operation is about.
enum UserKey<'a> {
    Id(&'a UserId),
    Email(&'a str),
    Username(&'a str),
}

impl Store {
    /// Fails with [`StoreError::Conflict`] when the id, username or e-mail is taken.
    pub async fn create_user(&self, u: &User) -> Result<()> {
        let sql = concat!(
            "INSERT INTO users (",
            user_columns!(),
            ", username_key, email_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        on_pool!(self, write, pool => {
            sqlx::query(sql)
                .bind(u.id.as_str())
                .bind(&u.username)
                .bind(&u.email)
                .bind(u.email_verified)
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.display_name)
                .bind(u.is_admin)
                .bind(u.disabled)
                .bind(u.created_at)
                .bind(u.updated_at)
                .bind(fold(&u.username))
                .bind(u.email.as_deref().map(fold))
                .execute(pool)
                .await
                .map_err(conflict)?;
        });
        Ok(())
    }

    pub async fn find_user(&self, id: &UserId) -> Result<Option<User>> {
        self.find_user_by(UserKey::Id(id)).await
    }

    /// By e-mail address, without regard to case.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.find_user_by(UserKey::Email(email)).await
    }

    /// By username, without regard to case.
    pub async fn find_user_by_username(&self, username: &str) -> Result<Option<User>> {
        self.find_user_by(UserKey::Username(username)).await
    }

    async fn find_user_by(&self, key: UserKey<'_>) -> Result<Option<User>> {
        let (sql, value) = match key {
            UserKey::Id(id) => (
                concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
                id.as_str().to_owned(),
            ),
            UserKey::Email(e) => (
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE email_key = $1"
                ),
                fold(e),
            ),
            UserKey::Username(n) => (
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE username_key = $1"
                ),
                fold(n),
            ),
        };
        on_pool!(self, read, pool => {
            let row = sqlx::query(sql).bind(&value).fetch_optional(pool).await?;
            Ok(match row {
                Some(row) => Some(user_from_row!(row)),
                None => None,
            })
        })
    }

    /// How many enabled administrators there are (none: the setup link may make one).
    pub async fn count_admins(&self) -> Result<i64> {
        on_pool!(self, read, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin = $1 AND disabled = $2")
                .bind(true)
                .bind(false)
                .fetch_one(pool)
                .await?)
        })
    }

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY username_key"
        );
        on_pool!(self, read, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter().map(|row| Ok(user_from_row!(row))).collect()
        })
    }

    /// Replaces everything but the id and creation time; `false` when there is no such user.
    pub async fn update_user(&self, u: &User) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE users SET username = $2, email = $3, email_verified = $4, first_name = $5, \
                 last_name = $6, display_name = $7, is_admin = $8, disabled = $9, updated_at = $10, \
                 username_key = $11, email_key = $12 WHERE id = $1",
            )
            .bind(u.id.as_str())
            .bind(&u.username)
            .bind(&u.email)
            .bind(u.email_verified)
            .bind(&u.first_name)
            .bind(&u.last_name)
            .bind(&u.display_name)
            .bind(u.is_admin)
            .bind(u.disabled)
            .bind(u.updated_at)
            .bind(fold(&u.username))
            .bind(u.email.as_deref().map(fold))
            .execute(pool)
            .await
            .map_err(conflict)?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// Deletes the user with their memberships and claims.
    pub async fn delete_user(&self, id: &UserId) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Fails with [`StoreError::Conflict`] when the id or name is taken.
    pub async fn create_group(&self, g: &Group) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO groups (id, name, friendly_name, created_at, updated_at, name_key) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(g.id.as_str())
            .bind(&g.name)
            .bind(&g.friendly_name)
            .bind(g.created_at)
            .bind(g.updated_at)
            .bind(fold(&g.name))
            .execute(pool)
            .await
            .map_err(conflict)?;
        });
        Ok(())
    }

    /// By name, without regard to case.
    pub async fn find_group_by_name(&self, name: &str) -> Result<Option<Group>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT id, name, friendly_name, created_at, updated_at FROM groups \
                 WHERE name_key = $1",
            )
            .bind(fold(name))
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some(row) => Some(group_from_row!(row)),
                None => None,
            })
        })
    }

    /// Every group, by name.
    pub async fn list_groups(&self) -> Result<Vec<Group>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(
                "SELECT id, name, friendly_name, created_at, updated_at FROM groups ORDER BY name_key",
            )
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(group_from_row!(row))).collect()
        })
    }

    /// Deletes the group with its memberships and claims.
    pub async fn delete_group(&self, id: &GroupId) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM groups WHERE id = $1")
                .bind(id.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Adds a member; adding one twice is not an error. [`StoreError::NotFound`] when the
    /// user or group does not exist.
    pub async fn create_group_member(&self, group: &GroupId, user: &UserId) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
                 ON CONFLICT (group_id, user_id) DO NOTHING",
            )
            .bind(group.as_str())
            .bind(user.as_str())
            .execute(pool)
            .await
            .map_err(missing_reference)?;
        });
        Ok(())
    }

    pub async fn delete_group_member(&self, group: &GroupId, user: &UserId) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group.as_str())
                .bind(user.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// Sets (or replaces) a custom claim on a user. Which names are allowed is the caller's
    /// business; the store keeps any JSON value.
    pub async fn update_user_claim(&self, user: &UserId, key: &str, value: &Value) -> Result<()> {
        self.upsert_claim(
            "INSERT INTO user_claims (user_id, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value",
            user.as_str(),
            key,
            value,
        )
        .await
    }

    pub async fn delete_user_claim(&self, user: &UserId, key: &str) -> Result<bool> {
        self.delete_claim(
            "DELETE FROM user_claims WHERE user_id = $1 AND key = $2",
            user.as_str(),
            key,
        )
        .await
    }

    /// Sets (or replaces) a custom claim on a group, given to each of its members.
    pub async fn update_group_claim(
        &self,
        group: &GroupId,
        key: &str,
        value: &Value,
    ) -> Result<()> {
        self.upsert_claim(
            "INSERT INTO group_claims (group_id, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, key) DO UPDATE SET value = excluded.value",
            group.as_str(),
            key,
            value,
        )
        .await
    }

    pub async fn delete_group_claim(&self, group: &GroupId, key: &str) -> Result<bool> {
        self.delete_claim(
            "DELETE FROM group_claims WHERE group_id = $1 AND key = $2",
            group.as_str(),
            key,
        )
        .await
    }

    async fn upsert_claim(
        &self,
        sql: &'static str,
        owner: &str,
        key: &str,
        value: &Value,
    ) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(sql)
                .bind(owner)
                .bind(key)
                .bind(value.to_string())
                .execute(pool)
                .await
                .map_err(missing_reference)?;
        });
        Ok(())
    }

    async fn delete_claim(&self, sql: &'static str, owner: &str, key: &str) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(sql)
                .bind(owner)
                .bind(key)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
    }

    /// A user's groups and custom claims in one read. Group claims apply in group-name order
    /// (the first group to set a name wins); the user's own claims override them.
    pub async fn find_directory_claims(&self, user: &UserId) -> Result<DirectoryClaims> {
        // kind 0: a group (claim columns NULL); 1: a group's claim; 2: the user's claim.
        const SQL: &str = "\
            SELECT 0 AS kind, g.name AS name, NULL AS key, NULL AS value \
              FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = $1 \
            UNION ALL \
            SELECT 1, g.name, c.key, c.value FROM group_members m \
              JOIN groups g ON g.id = m.group_id JOIN group_claims c ON c.group_id = m.group_id \
              WHERE m.user_id = $1 \
            UNION ALL \
            SELECT 2, NULL, key, value FROM user_claims WHERE user_id = $1";
        let rows: Vec<ClaimRow> = on_pool!(self, read, pool => {
            let rows = sqlx::query(SQL).bind(user.as_str()).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get::<i32, _>("kind")?,
                        r.try_get("name")?,
                        r.try_get("key")?,
                        r.try_get("value")?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?
        });
        let mut out = DirectoryClaims::default();
        let mut group_claims: Vec<(String, String, Value)> = Vec::new();
        let mut own = Map::new();
        for (kind, name, key, value) in rows {
            match (kind, name, key, value) {
                (0, Some(name), _, _) => out.groups.push(name),
                (1, Some(name), Some(key), Some(value)) => {
                    group_claims.push((fold(&name), key, parse_json(&value)?));
                }
                (2, _, Some(key), Some(value)) => {
                    own.insert(key, parse_json(&value)?);
                }
                _ => return Err(StoreError::Malformed("directory claim row".into())),
            }
        }
        out.groups.sort_by_key(|g| fold(g));
        group_claims.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, key, value) in group_claims {
            out.claims.entry(key).or_insert(value);
        }
        out.claims.extend(own);
        Ok(out)
    }
}

/// How names are compared: without regard to case, the same on every backend.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// kind, group name, claim name, claim value (JSON).
type ClaimRow = (i32, Option<String>, Option<String>, Option<String>);

/// A membership or claim for a user or group that does not exist.
fn missing_reference(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::Database(err),
    }
}
