//! What the tsidp role says about a user: the WhoIs snapshot taken at sign-in, gated as tsidp
//! gates it (e-mail with `email`, name, username and picture with `profile`; the tailnet
//! claims always), and userinfo as tsidp answers it.

use latchkey_oidc::{BoxFuture, ClaimsFor, ClaimsSource};
use latchkey_store::Subject;
use serde_json::{Map, Value};

use crate::authenticator::{
    SNAPSHOT_ID, SNAPSHOT_LOGIN, SNAPSHOT_RESOURCE_RULES, SNAPSHOT_USERINFO,
};

pub struct TailnetClaims;

const PROFILE: &[&str] = &["name", "preferred_username", "picture"];

impl ClaimsSource for TailnetClaims {
    fn claims<'a>(
        &'a self,
        _subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Map<String, Value>,
        purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, String>> {
        Box::pin(async move {
            let key = match purpose {
                ClaimsFor::IdToken => SNAPSHOT_ID,
                ClaimsFor::Userinfo => SNAPSHOT_USERINFO,
            };
            let mut out = snapshot
                .get(key)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if purpose == ClaimsFor::IdToken {
                if !scopes.contains(&"email") {
                    out.remove("email");
                }
                if !scopes.contains(&"profile") {
                    for k in PROFILE {
                        out.remove(*k);
                    }
                }
            }
            Ok(out)
        })
    }

    /// As tsidp: a resource is allowed when one rule lists the user (or `*`) and the
    /// resource (or `*`); the others are dropped, and none left is a refusal.
    fn audiences(
        &self,
        _subject: &Subject,
        snapshot: &Map<String, Value>,
        requested: &[&str],
    ) -> Result<Vec<String>, String> {
        let login = snapshot
            .get(SNAPSHOT_LOGIN)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let listed = |list: &Value, item: &str| {
            list.as_array()
                .is_some_and(|l| l.iter().any(|v| v == "*" || v == item))
        };
        let rules = snapshot
            .get(SNAPSHOT_RESOURCE_RULES)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(requested
            .iter()
            .filter(|r| {
                rules
                    .iter()
                    .any(|rule| listed(&rule["users"], login) && listed(&rule["resources"], r))
            })
            .map(|r| (*r).to_owned())
            .collect())
    }
}
