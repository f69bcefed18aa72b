//! The audit log: who did what, when, from where.

use sqlx::Row;

use crate::model::parse_json;
use crate::{AuditEvent, ClientId, IssuerId, Result, Store, Subject, on_pool};

macro_rules! event_from_row {
    ($row:expr) => {{
        let row = $row;
        AuditEvent {
            id: row.try_get("id")?,
            issuer: IssuerId(row.try_get("issuer")?),
            kind: row.try_get("kind")?,
            subject: row.try_get::<Option<String>, _>("subject")?.map(Subject),
            client_id: row.try_get::<Option<String>, _>("client_id")?.map(ClientId),
            ip: row.try_get("ip")?,
            detail: parse_json(row.try_get::<&str, _>("detail")?)?,
            created_at: row.try_get("created_at")?,
        }
    }};
}

/// What to record; the store assigns the id.
#[derive(Clone, Debug)]
pub struct NewAuditEvent<'a> {
    pub issuer: &'a IssuerId,
    pub kind: &'a str,
    pub subject: Option<&'a Subject>,
    pub client_id: Option<&'a ClientId>,
    pub ip: Option<&'a str>,
    pub detail: serde_json::Value,
    pub created_at: i64,
}

impl Store {
    pub async fn create_audit_event(&self, e: &NewAuditEvent<'_>) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(
                "INSERT INTO audit_events (issuer, kind, subject, client_id, ip, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(e.issuer.as_str())
            .bind(e.kind)
            .bind(e.subject.map(|s| s.as_str()))
            .bind(e.client_id.map(|c| c.as_str()))
            .bind(e.ip)
            .bind(e.detail.to_string())
            .bind(e.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The newest events first.
    pub async fn list_audit_events(
        &self,
        issuer: &IssuerId,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(
                "SELECT id, issuer, kind, subject, client_id, ip, detail, created_at FROM audit_events \
                 WHERE issuer = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(issuer.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(event_from_row!(row))).collect()
        })
    }

    /// What `subject` did (or what was done as them), newest first.
    pub async fn list_audit_events_of(
        &self,
        issuer: &IssuerId,
        subject: &Subject,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        on_pool!(self, read, pool => {
            let rows = sqlx::query(
                "SELECT id, issuer, kind, subject, client_id, ip, detail, created_at FROM audit_events \
                 WHERE issuer = $1 AND subject = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(issuer.as_str())
            .bind(subject.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(event_from_row!(row))).collect()
        })
    }
}
