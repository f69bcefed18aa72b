//! What the tsidp role says about a user: the WhoIs snapshot taken at sign-in, gated as tsidp
//! gates it (e-mail with `email`, name, username and picture with `profile`; the tailnet
//! claims always), and userinfo as tsidp answers it.

use latchkey_oidc::{BoxFuture, ClaimsFor, ClaimsSource, RoleError, Snapshot, TargetError};
use latchkey_store::Subject;
use serde_json::{Map, Value};

use crate::sign_in::TailnetSignIn;

pub struct TailnetClaims;

const PROFILE: &[&str] = &["name", "preferred_username", "picture"];

impl ClaimsSource for TailnetClaims {
    fn claims<'a>(
        &'a self,
        _subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Snapshot,
        purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>> {
        Box::pin(async move {
            let sign_in: TailnetSignIn = snapshot.extension()?;
            Ok(gate(sign_in, scopes, purpose))
        })
    }

    /// As tsidp: a resource is allowed when one rule lists the user (or `*`) and the
    /// resource (or `*`); the others are dropped, and none left is a refusal.
    fn audiences(
        &self,
        _subject: &Subject,
        snapshot: &Snapshot,
        requested: &[&str],
    ) -> Result<Vec<String>, TargetError> {
        let sign_in: TailnetSignIn = snapshot.extension().map_err(RoleError::from)?;
        Ok(requested
            .iter()
            .filter(|r| sign_in.allows(r))
            .map(|r| (*r).to_owned())
            .collect())
    }
}

/// tsidp's answer for `purpose`: userinfo as it was; the ID token with `email` only under
/// the `email` scope and the profile claims only under `profile`.
pub(crate) fn gate(
    sign_in: TailnetSignIn,
    scopes: &[&str],
    purpose: ClaimsFor,
) -> Map<String, Value> {
    match purpose {
        ClaimsFor::Userinfo => sign_in.userinfo,
        ClaimsFor::IdToken => {
            let mut out = sign_in.id_token;
            if !scopes.contains(&"email") {
                out.remove("email");
            }
            if !scopes.contains(&"profile") {
                for k in PROFILE {
                    out.remove(*k);
                }
            }
            out
        }
    }
}
