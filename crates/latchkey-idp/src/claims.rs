//! Claims from the directory. The directory (users, groups, custom claims) is not built yet,
//! so only what the sign-in recorded is released, filtered by scope.

use latchkey_oidc::provider::scope_claims;
use latchkey_oidc::{BoxFuture, ClaimsSource};
use latchkey_store::Subject;
use serde_json::{Map, Value};

pub struct DirectoryClaims;

impl ClaimsSource for DirectoryClaims {
    fn claims<'a>(
        &'a self,
        _subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Map<String, Value>,
        _purpose: latchkey_oidc::ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, String>> {
        Box::pin(async move {
            let mut out = Map::new();
            for scope in scopes {
                for name in scope_claims(scope) {
                    if let Some(v) = snapshot.get(*name) {
                        out.insert((*name).to_owned(), v.clone());
                    }
                }
            }
            Ok(out)
        })
    }
}
