//! Custom claims of a person or a group: the same panel and the same form on both pages.

use axum::response::Response;
use latchkey_store::{GroupId, Store, StoreError, UserId};
use latchkey_web::Form;
use serde_json::{Value, json};

use super::{By, failed, removing, text};
use crate::directory::{check_claim_name, parse_claim_value};
use crate::state::Idp;

/// Whose claims.
pub(super) enum Owner<'a> {
    User(&'a UserId),
    Group(&'a GroupId),
}

pub(crate) struct ClaimRow {
    pub name: String,
    /// A string as itself, anything else as JSON.
    pub value: String,
}

/// A claim the form could not add: why, and what was typed.
pub(crate) struct Refused {
    error: String,
    name: String,
    value: String,
}

/// The claims panel of a page.
pub(crate) struct ClaimsPanel {
    pub rows: Vec<ClaimRow>,
    /// Where the form posts (`action=remove` removes `name`).
    pub action: String,
    pub error: Option<String>,
    /// What was typed, shown again after a refusal.
    pub name: String,
    pub value: String,
}

impl ClaimsPanel {
    pub async fn load(
        store: &Store,
        owner: &Owner<'_>,
        action: String,
        refused: Option<Refused>,
    ) -> Result<Self, StoreError> {
        let list = match owner {
            Owner::User(u) => store.list_user_claims(u).await?,
            Owner::Group(g) => store.list_group_claims(g).await?,
        };
        let rows = list
            .into_iter()
            .map(|(name, value)| ClaimRow {
                name,
                value: match value {
                    Value::String(s) => s,
                    v => v.to_string(),
                },
            })
            .collect();
        let (error, name, value) = match refused {
            Some(r) => (Some(r.error), r.name, r.value),
            None => (None, String::new(), String::new()),
        };
        Ok(ClaimsPanel {
            rows,
            action,
            error,
            name,
            value,
        })
    }
}

/// Adds (or replaces) the claim the form names, or removes it: `Ok(Some(_))` when the form
/// was refused.
pub(super) async fn apply(
    idp: &Idp,
    by: &By,
    owner: &Owner<'_>,
    form: &Form,
) -> Result<Option<Refused>, Response> {
    let store = &idp.store;
    let name = text(form, "name");
    let value = text(form, "value");
    let remove = removing(form);
    let done = if remove {
        match owner {
            Owner::User(u) => store.delete_user_claim(u, &name).await,
            Owner::Group(g) => store.delete_group_claim(g, &name).await,
        }
        .map(|_| ())
    } else {
        let refusal = match check_claim_name(&name) {
            Err(e) => Some(format!("{e}.")),
            Ok(()) if value.is_empty() => Some("Give the claim a value.".to_owned()),
            Ok(()) if value.len() > 4096 => {
                Some("The value is too long (at most 4096 bytes).".to_owned())
            }
            Ok(()) => None,
        };
        if let Some(error) = refusal {
            return Ok(Some(Refused { error, name, value }));
        }
        let json = parse_claim_value(&value);
        match owner {
            Owner::User(u) => store.update_user_claim(u, &name, &json).await,
            Owner::Group(g) => store.update_group_claim(g, &name, &json).await,
        }
    };
    done.map_err(failed(idp))?;
    let (kind, detail) = match (remove, owner) {
        (true, Owner::User(u)) => ("CUSTOM_CLAIM_REMOVED", json!({"user": u, "claim": name})),
        (true, Owner::Group(g)) => ("CUSTOM_CLAIM_REMOVED", json!({"group": g, "claim": name})),
        (false, Owner::User(u)) => ("CUSTOM_CLAIM_SET", json!({"user": u, "claim": name})),
        (false, Owner::Group(g)) => ("CUSTOM_CLAIM_SET", json!({"group": g, "claim": name})),
    };
    by.record(idp, kind, None, detail).await;
    Ok(None)
}
