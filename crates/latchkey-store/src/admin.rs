//! Reads and writes the admin pages and "My apps" need beyond the directory's and the
//! tokens' own: one group, a person's groups and own claims, a group's members and claims,
//! counts for the lists, and a person's consents and grants per client.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::Row;

use crate::model::parse_json;
use crate::{ClientId, Group, GroupId, IssuerId, Result, Store, Subject, User, UserId};
use crate::{fold, on_pool};

macro_rules! group {
    ($row:expr) => {{
        let r = $row;
        Group {
            id: GroupId(r.try_get("id")?),
            name: r.try_get("name")?,
            friendly_name: r.try_get("friendly_name")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

impl Store {
    pub async fn find_group(&self, id: &GroupId) -> Result<Option<Group>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(
                "SELECT id, name, friendly_name, created_at, updated_at FROM groups WHERE id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some(r) => Some(group!(r)),
                None => None,
            })
        })
    }

    /// The groups `user` belongs to, by name.
    pub async fn list_user_groups(&self, user: &UserId) -> Result<Vec<Group>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(
                "SELECT g.id, g.name, g.friendly_name, g.created_at, g.updated_at FROM groups g \
                 JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name_key",
            )
            .bind(user.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(group!(r))).collect()
        })
    }

    /// The members of `group`, by username.
    pub async fn list_group_members(&self, group: &GroupId) -> Result<Vec<User>> {
        let members: Vec<UserId> = on_pool!(self, read, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT u.id FROM users u JOIN group_members m ON m.user_id = u.id \
                 WHERE m.group_id = $1 ORDER BY u.username_key",
            )
            .bind(group.as_str())
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(UserId)
            .collect()
        });
        let mut out = Vec::with_capacity(members.len());
        for id in members {
            if let Some(u) = self.find_user(&id).await? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// How many members each group has (groups without members are absent).
    pub async fn count_group_members(&self) -> Result<HashMap<GroupId, i64>> {
        self.counts("SELECT group_id, COUNT(*) FROM group_members GROUP BY group_id")
            .await
            .map(|m| m.into_iter().map(|(k, v)| (GroupId(k), v)).collect())
    }

    /// How many passkeys each person has (people without one are absent).
    pub async fn count_passkeys(&self) -> Result<HashMap<UserId, i64>> {
        self.counts("SELECT user_id, COUNT(*) FROM passkeys GROUP BY user_id")
            .await
            .map(|m| m.into_iter().map(|(k, v)| (UserId(k), v)).collect())
    }

    async fn counts(&self, sql: &'static str) -> Result<HashMap<String, i64>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
                .collect()
        })
    }

    /// A person's own custom claims (not their groups'), by name.
    pub async fn list_user_claims(&self, user: &UserId) -> Result<Vec<(String, Value)>> {
        self.claims_of(
            "SELECT key, value FROM user_claims WHERE user_id = $1 ORDER BY key",
            user.as_str(),
        )
        .await
    }

    /// A group's custom claims, by name.
    pub async fn list_group_claims(&self, group: &GroupId) -> Result<Vec<(String, Value)>> {
        self.claims_of(
            "SELECT key, value FROM group_claims WHERE group_id = $1 ORDER BY key",
            group.as_str(),
        )
        .await
    }

    async fn claims_of(&self, sql: &'static str, owner: &str) -> Result<Vec<(String, Value)>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(sql).bind(owner).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    let value: String = r.try_get("value")?;
                    Ok((r.try_get("key")?, parse_json(&value)?))
                })
                .collect()
        })
    }

    /// Whether a group of that name exists, other than `except` (renaming keeps a group's own
    /// name free).
    pub async fn group_name_taken(&self, name: &str, except: Option<&GroupId>) -> Result<bool> {
        Ok(self
            .find_group_by_name(name)
            .await?
            .is_some_and(|g| Some(&g.id) != except))
    }

    /// Renames a group; `false` when there is no such group. [`crate::StoreError::Conflict`]
    /// when the name is taken.
    pub async fn update_group(&self, g: &Group) -> Result<bool> {
        on_pool!(self, write, pool => {
            let n = sqlx::query(
                "UPDATE groups SET name = $2, friendly_name = $3, updated_at = $4, name_key = $5 WHERE id = $1",
            )
            .bind(g.id.as_str())
            .bind(&g.name)
            .bind(&g.friendly_name)
            .bind(g.updated_at)
            .bind(fold(&g.name))
            .execute(pool)
            .await
            .map_err(crate::conflict)?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// The clients `subject` consented to, with when they last did, latest first.
    pub async fn list_consented_clients(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
    ) -> Result<Vec<(ClientId, i64)>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(
                "SELECT client_id, updated_at FROM consents WHERE issuer = $1 AND subject = $2 \
                 ORDER BY updated_at DESC, client_id",
            )
            .bind(issuer.as_str())
            .bind(subject.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((ClientId(r.try_get(0)?), r.try_get(1)?)))
                .collect()
        })
    }

    /// The clients holding a live (unrevoked, unexpired) grant from `subject`.
    pub async fn list_granted_clients(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        now: i64,
    ) -> Result<Vec<ClientId>> {
        on_pool!(self, read, pool => {
            Ok(sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT client_id FROM grants WHERE issuer = $1 AND subject = $2 \
                 AND revoked_at IS NULL AND expires_at > $3 ORDER BY client_id",
            )
            .bind(issuer.as_str())
            .bind(subject.as_str())
            .bind(now)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(ClientId)
            .collect())
        })
    }

    /// Takes back what `subject` gave `client`: the consent is forgotten and every grant is
    /// revoked (its refresh tokens stop working, its access tokens are denied), in one
    /// transaction. How many grants were revoked.
    pub async fn revoke_subject_client(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        client: &ClientId,
        now: i64,
    ) -> Result<u64> {
        on_pool!(self, write, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE grants SET revoked_at = $4 WHERE issuer = $1 AND subject = $2 \
                 AND client_id = $3 AND revoked_at IS NULL",
            )
            .bind(issuer.as_str())
            .bind(subject.as_str())
            .bind(client.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM consents WHERE issuer = $1 AND subject = $2 AND client_id = $3")
                .bind(issuer.as_str())
                .bind(subject.as_str())
                .bind(client.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n)
        })
    }
}
