//! What the idp writes to the audit log besides the admin pages' changes: sign-ins and
//! passkeys added or removed (Pocket ID's event names). Best effort: a failure to record is
//! logged, never fatal to what was being done.

use latchkey_store::{ClientId, NewAuditEvent, Subject, unix_now};
use serde_json::Value;

use crate::state::Idp;

pub(crate) const SIGN_IN: &str = "SIGN_IN";
pub(crate) const PASSKEY_ADDED: &str = "PASSKEY_ADDED";
pub(crate) const PASSKEY_REMOVED: &str = "PASSKEY_REMOVED";

impl Idp {
    pub(crate) async fn audit(
        &self,
        kind: &str,
        subject: Option<&Subject>,
        client: Option<&ClientId>,
        ip: Option<&str>,
        detail: Value,
    ) {
        let event = NewAuditEvent {
            issuer: self.issuer_id(),
            kind,
            subject,
            client_id: client,
            ip,
            detail,
            created_at: unix_now(),
        };
        if let Err(e) = self.store.create_audit_event(&event).await {
            tracing::error!(error = %e, kind, "recording an audit event failed");
        }
    }
}
