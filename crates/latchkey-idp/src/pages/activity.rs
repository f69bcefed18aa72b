//! The audit log as people read it: one sentence per event, with who, which application,
//! from where and when. The account page shows a person their own recent activity; the admin
//! pages show everyone's.

use latchkey_store::{AuditEvent, Client, StoreError, Subject, User};
use serde_json::Value;

use super::words::{ago, device};
use crate::session::Person;
use crate::state::Idp;

/// How many of a person's own events the account page shows.
const OWN_EVENTS: i64 = 10;

/// The person's last events, for the account page (which has the issuer's `clients` already).
pub(crate) async fn of_person(
    idp: &Idp,
    person: &Person,
    clients: &[Client],
    now: i64,
) -> Result<Vec<ActivityRow>, StoreError> {
    let subject = Subject(person.user.id.0.clone());
    let events = idp
        .store
        .list_audit_events_of(idp.issuer_id(), &subject, OWN_EVENTS)
        .await?;
    Ok(rows(
        &events,
        std::slice::from_ref(&person.user),
        clients,
        now,
    ))
}

pub(crate) struct ActivityRow {
    pub when: String,
    /// The exact time, for a tooltip (UTC, RFC 3339).
    pub at: String,
    pub what: String,
    /// The person the event is about, when known.
    pub who: String,
    pub app: String,
    pub from: String,
    /// A refused or suspicious event (shown with a warning badge).
    pub alarm: bool,
}

/// A sentence for an event kind (Pocket ID's names and ours).
fn sentence(e: &AuditEvent) -> (String, bool) {
    let text = |k: &str| e.detail.get(k).and_then(Value::as_str).unwrap_or_default();
    let said = match e.kind.as_str() {
        "SIGN_IN" => match text("amr") {
            "otp" => "Signed in with a one-time link".to_owned(),
            _ => "Signed in with a passkey".to_owned(),
        },
        "PASSKEY_ADDED" => format!("Added the passkey “{}”", text("passkey")),
        "PASSKEY_REMOVED" => "Removed a passkey".to_owned(),
        "USER_CREATED" => "Added a person".to_owned(),
        "USER_UPDATED" => "Changed a person".to_owned(),
        "USER_DELETED" => "Deleted a person".to_owned(),
        "ONE_TIME_ACCESS_TOKEN_CREATED" => "Made a one-time sign-in link".to_owned(),
        "GROUP_CREATED" => "Created a group".to_owned(),
        "GROUP_UPDATED" => "Renamed a group".to_owned(),
        "GROUP_DELETED" => "Deleted a group".to_owned(),
        "GROUP_MEMBER_ADDED" => "Added someone to a group".to_owned(),
        "GROUP_MEMBER_REMOVED" => "Removed someone from a group".to_owned(),
        "CUSTOM_CLAIM_SET" => "Set a custom claim".to_owned(),
        "CUSTOM_CLAIM_REMOVED" => "Removed a custom claim".to_owned(),
        "CLIENT_CREATED" => "Added a client".to_owned(),
        "CLIENT_UPDATED" => "Changed a client".to_owned(),
        "CLIENT_DELETED" => "Deleted a client".to_owned(),
        "CLIENT_SECRET_ROTATED" => "Gave a client a new secret".to_owned(),
        "CLIENT_LOGO_UPDATED" => "Changed a client's logo".to_owned(),
        "CLIENT_LOGO_REMOVED" => "Removed a client's logo".to_owned(),
        "CODE_REPLAYED" => {
            return (
                "An authorization code was used twice: the access it gave was revoked".to_owned(),
                true,
            );
        }
        "REFRESH_TOKEN_REUSED" => {
            return (
                "A used refresh token came back: the application's access was revoked".to_owned(),
                true,
            );
        }
        other => other.to_lowercase().replace('_', " "),
    };
    (said, false)
}

/// Rows for `events`, names found in `users` and `clients`.
pub(crate) fn rows(
    events: &[AuditEvent],
    users: &[User],
    clients: &[Client],
    now: i64,
) -> Vec<ActivityRow> {
    events
        .iter()
        .map(|e| {
            let (what, alarm) = sentence(e);
            let who = e
                .subject
                .as_ref()
                .map(|s| {
                    users
                        .iter()
                        .find(|u| u.id.as_str() == s.as_str())
                        .map_or_else(|| s.as_str().to_owned(), |u| u.username.clone())
                })
                .unwrap_or_default();
            let app = e
                .client_id
                .as_ref()
                .map(|id| {
                    clients
                        .iter()
                        .find(|c| &c.id == id)
                        .map_or_else(|| id.as_str().to_owned(), |c| c.name.clone())
                })
                .unwrap_or_default();
            let ua = e.detail.get("user_agent").and_then(Value::as_str);
            let from = match (e.ip.as_deref(), ua) {
                (Some(ip), Some(ua)) => format!("{}, {ip}", device(ua)),
                (Some(ip), None) => ip.to_owned(),
                (None, Some(ua)) => device(ua),
                (None, None) => String::new(),
            };
            ActivityRow {
                when: ago(now, e.created_at),
                at: rfc3339(e.created_at),
                what,
                who,
                app,
                from,
                alarm,
            }
        })
        .collect()
}

/// `2026-11-30T03:04:05Z`.
fn rfc3339(t: i64) -> String {
    let [y, mo, d, h, mi, s] = latchkey_store::utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_007_518), "2026-11-30T02:58:38Z");
    }
}
