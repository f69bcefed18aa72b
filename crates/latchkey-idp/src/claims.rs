//! Claims from the directory. The idp's sign-in does not exist yet, so only what the sign-in
//! recorded (the snapshot's standard claims) is released, filtered by scope.

use latchkey_oidc::role::scope_claims;
use latchkey_oidc::{BoxFuture, ClaimsFor, ClaimsSource, RoleError, Snapshot};
use latchkey_store::Subject;
use serde_json::{Map, Value};

pub struct DirectoryClaims;

impl ClaimsSource for DirectoryClaims {
    fn claims<'a>(
        &'a self,
        _subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Snapshot,
        _purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>> {
        Box::pin(async move {
            let mut standard = snapshot.standard.to_map();
            let mut out = Map::new();
            for scope in scopes {
                for name in scope_claims(scope) {
                    if let Some(v) = standard.remove(*name) {
                        out.insert((*name).to_owned(), v);
                    }
                }
            }
            Ok(out)
        })
    }
}
