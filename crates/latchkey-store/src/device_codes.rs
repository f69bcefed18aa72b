//! RFC 8628 device authorization requests: created pending, approved or denied once by a
//! person, answered once to the polling device. Every transition is one conditional
//! statement, so the database alone decides who wins a race.

use sqlx::Row;

use crate::{ClientId, IssuerId, Result, Store, StoreError, Subject, on_pool};

/// Where a device request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceStatus> {
        Some(match s {
            "pending" => DeviceStatus::Pending,
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCode {
    /// SHA-256 (hex) of the device code.
    pub device_code_hash: String,
    pub issuer: IssuerId,
    /// Normalised: upper case, no separator.
    pub user_code: String,
    pub client_id: ClientId,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Seconds the device must wait between polls.
    pub interval: i64,
    pub last_polled_at: Option<i64>,
    pub status: DeviceStatus,
    /// Set on approval: who approved, how and when they signed in, the sign-in snapshot.
    pub subject: Option<Subject>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub snapshot: Option<String>,
}

/// What a poll finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevicePoll {
    /// Not decided yet; `slow_down` when this poll came sooner than `interval` after the last
    /// one (the interval has then grown by the caller's step).
    Pending {
        slow_down: bool,
        interval: i64,
    },
    /// Approved: the record, now deleted (this is its one redemption).
    Approved(Box<DeviceCode>),
    /// The person declined (the record is deleted).
    Denied,
    Expired,
    /// Unknown, redeemed already, or issued to another client.
    NotFound,
}

macro_rules! device_columns {
    () => {
        "device_code_hash, issuer, user_code, client_id, scope, created_at, expires_at, poll_interval, \
         last_polled_at, status, subject, auth_time, amr, snapshot"
    };
}

macro_rules! device_from_row {
    ($row:expr) => {{
        let row = $row;
        let status: &str = row.try_get("status")?;
        let subject: Option<String> = row.try_get("subject")?;
        DeviceCode {
            device_code_hash: row.try_get("device_code_hash")?,
            issuer: IssuerId(row.try_get("issuer")?),
            user_code: row.try_get("user_code")?,
            client_id: ClientId(row.try_get("client_id")?),
            scope: row.try_get("scope")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            interval: row.try_get("poll_interval")?,
            last_polled_at: row.try_get("last_polled_at")?,
            status: DeviceStatus::parse(status)
                .ok_or_else(|| StoreError::Malformed(format!("device status {status}")))?,
            subject: subject.map(Subject),
            auth_time: row.try_get("auth_time")?,
            amr: crate::model::parse_list(row.try_get::<&str, _>("amr")?)?,
            snapshot: row.try_get("snapshot")?,
        }
    }};
}

impl Store {
    /// Stores a new request. [`StoreError::Conflict`] when its user code is taken (the caller
    /// draws another).
    pub async fn create_device_code(&self, d: &DeviceCode) -> Result<()> {
        on_pool!(self, write, pool => {
            sqlx::query(concat!(
                "INSERT INTO device_codes (", device_columns!(), ") \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(&d.device_code_hash)
            .bind(d.issuer.as_str())
            .bind(&d.user_code)
            .bind(d.client_id.as_str())
            .bind(&d.scope)
            .bind(d.created_at)
            .bind(d.expires_at)
            .bind(d.interval)
            .bind(d.last_polled_at)
            .bind(d.status.as_str())
            .bind(d.subject.as_ref().map(|s| s.as_str()))
            .bind(d.auth_time)
            .bind(crate::model::list_json(&d.amr))
            .bind(d.snapshot.as_deref())
            .execute(pool)
            .await
            .map_err(crate::conflict)?;
        });
        Ok(())
    }

    /// A pending, live request by its (normalised) user code.
    pub async fn find_pending_device_code(
        &self,
        issuer: &IssuerId,
        user_code: &str,
        now: i64,
    ) -> Result<Option<DeviceCode>> {
        on_pool!(self, read, pool => {
            let row = sqlx::query(concat!(
                "SELECT ", device_columns!(), " FROM device_codes \
                 WHERE issuer = $1 AND user_code = $2 AND status = 'pending' AND expires_at > $3"
            ))
            .bind(issuer.as_str())
            .bind(user_code)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(device_from_row!(row)))
        })
    }

    /// Approves a pending, live request for `subject`; false when it is not (any more).
    #[allow(clippy::too_many_arguments)]
    pub async fn approve_device_code(
        &self,
        issuer: &IssuerId,
        user_code: &str,
        subject: &Subject,
        auth_time: i64,
        amr: &[String],
        snapshot: &str,
        now: i64,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query(
                "UPDATE device_codes SET status = 'approved', subject = $3, auth_time = $4, \
                 amr = $5, snapshot = $6 \
                 WHERE issuer = $1 AND user_code = $2 AND status = 'pending' AND expires_at > $7",
            )
            .bind(issuer.as_str())
            .bind(user_code)
            .bind(subject.as_str())
            .bind(auth_time)
            .bind(crate::model::list_json(amr))
            .bind(snapshot)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// Denies a pending, live request; false when it is not (any more).
    pub async fn deny_device_code(
        &self,
        issuer: &IssuerId,
        user_code: &str,
        now: i64,
    ) -> Result<bool> {
        on_pool!(self, write, pool => {
            Ok(sqlx::query(
                "UPDATE device_codes SET status = 'denied' \
                 WHERE issuer = $1 AND user_code = $2 AND status = 'pending' AND expires_at > $3",
            )
            .bind(issuer.as_str())
            .bind(user_code)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
                == 1)
        })
    }

    /// One poll by `client`: a decided request is taken (deleted by the statement that reads
    /// it, so it is answered once); a pending one records the poll, and a poll sooner than the
    /// interval after the previous one grows the interval by `slow_down_step`.
    pub async fn poll_device_code(
        &self,
        issuer: &IssuerId,
        device_code_hash: &str,
        client: &ClientId,
        now: i64,
        slow_down_step: i64,
    ) -> Result<DevicePoll> {
        let found = on_pool!(self, read, pool => {
            let row = sqlx::query(concat!(
                "SELECT ", device_columns!(), " FROM device_codes \
                 WHERE device_code_hash = $1 AND issuer = $2 AND client_id = $3"
            ))
            .bind(device_code_hash)
            .bind(issuer.as_str())
            .bind(client.as_str())
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Some(device_from_row!(row)),
                None => None,
            }
        });
        let Some(d) = found else {
            return Ok(DevicePoll::NotFound);
        };
        if d.expires_at <= now {
            return Ok(DevicePoll::Expired);
        }
        match d.status {
            DeviceStatus::Approved | DeviceStatus::Denied => {
                let taken = on_pool!(self, write, pool => {
                    let row = sqlx::query(concat!(
                        "DELETE FROM device_codes \
                         WHERE device_code_hash = $1 AND issuer = $2 AND status <> 'pending' \
                         RETURNING ", device_columns!()
                    ))
                    .bind(device_code_hash)
                    .bind(issuer.as_str())
                    .fetch_optional(pool)
                    .await?;
                    match row {
                        Some(row) => Some(device_from_row!(row)),
                        None => None,
                    }
                });
                Ok(match taken {
                    Some(d) if d.status == DeviceStatus::Approved => {
                        DevicePoll::Approved(Box::new(d))
                    }
                    Some(_) => DevicePoll::Denied,
                    None => DevicePoll::NotFound,
                })
            }
            DeviceStatus::Pending => {
                let slow_down = d.last_polled_at.is_some_and(|t| now - t < d.interval);
                let interval = if slow_down {
                    d.interval + slow_down_step
                } else {
                    d.interval
                };
                // Conditional on the poll we read: of two concurrent polls one records itself,
                // the other was too fast by definition. (A request decided since the read is
                // answered at the next poll.)
                let recorded = on_pool!(self, write, pool => {
                    sqlx::query(
                        "UPDATE device_codes SET last_polled_at = $1, poll_interval = $2 \
                         WHERE device_code_hash = $3 AND issuer = $4 AND status = 'pending' \
                         AND COALESCE(last_polled_at, -1) = $5",
                    )
                    .bind(now)
                    .bind(interval)
                    .bind(device_code_hash)
                    .bind(issuer.as_str())
                    .bind(d.last_polled_at.unwrap_or(-1))
                    .execute(pool)
                    .await?
                    .rows_affected()
                        == 1
                });
                Ok(DevicePoll::Pending {
                    slow_down: slow_down || !recorded,
                    interval,
                })
            }
        }
    }
}
