//! Claims from the directory, read when a token or userinfo answer is made (so a changed
//! name or group shows at the next refresh), released by scope as Pocket ID does:
//! `profile` → names, `preferred_username`, `picture` and the person's custom claims;
//! `email` → `email`, `email_verified` (a JSON boolean); `groups` → group names.

use latchkey_oidc::{BoxFuture, ClaimsFor, ClaimsSource, RoleError, Snapshot};
use latchkey_store::{Client, Store, Subject, User, UserId};

use crate::client_policy::ClientPolicy;
use serde_json::{Map, Value};

pub struct DirectoryClaims {
    store: Store,
}

impl DirectoryClaims {
    pub fn new(store: Store) -> DirectoryClaims {
        DirectoryClaims { store }
    }
}

impl ClaimsSource for DirectoryClaims {
    /// At each refresh: the account is still enabled, and still in one of the client's
    /// allowed groups.
    fn may_continue<'a>(
        &'a self,
        subject: &'a Subject,
        client: &'a Client,
    ) -> BoxFuture<'a, Result<bool, RoleError>> {
        Box::pin(async move {
            let id = UserId(subject.0.clone());
            match self.store.find_user(&id).await? {
                Some(u) if !u.disabled => {}
                _ => return Ok(false),
            }
            let policy = ClientPolicy::of(client);
            if policy.allowed_groups.is_empty() {
                return Ok(true);
            }
            let groups = self.store.find_directory_claims(&id).await?.groups;
            Ok(policy.admits(&groups))
        })
    }

    fn claims<'a>(
        &'a self,
        subject: &'a Subject,
        scopes: &'a [&'a str],
        _snapshot: &'a Snapshot,
        _purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>> {
        Box::pin(async move {
            let id = UserId(subject.0.clone());
            let user = match self.store.find_user(&id).await? {
                Some(u) if !u.disabled => u,
                _ => return Err(RoleError::Gone),
            };
            let wants = |s: &str| scopes.contains(&s);
            let directory = if wants("profile") || wants("groups") {
                Some(self.store.find_directory_claims(&id).await?)
            } else {
                None
            };
            let mut out = Map::new();
            if wants("profile") {
                profile_claims(&user, &mut out);
                if let Some(d) = &directory {
                    for (k, v) in &d.claims {
                        out.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            if wants("email")
                && let Some(email) = &user.email
            {
                out.insert("email".into(), Value::from(email.as_str()));
                out.insert("email_verified".into(), Value::Bool(user.email_verified));
            }
            if wants("groups")
                && let Some(d) = directory
            {
                out.insert("groups".into(), Value::from(d.groups));
            }
            Ok(out)
        })
    }
}

fn profile_claims(user: &User, out: &mut Map<String, Value>) {
    out.insert("name".into(), Value::from(user.display_name.as_str()));
    if !user.first_name.is_empty() {
        out.insert("given_name".into(), Value::from(user.first_name.as_str()));
    }
    if !user.last_name.is_empty() {
        out.insert("family_name".into(), Value::from(user.last_name.as_str()));
    }
    out.insert(
        "preferred_username".into(),
        Value::from(preferred_username(&user.username)),
    );
}

/// The username within Headscale's rule (at least 2 characters, starting with a letter; only
/// letters, digits, `-`, `.`, `_` and at most one `@`), lower-cased. Directory usernames are
/// mostly that already; other characters become `-`.
pub fn preferred_username(username: &str) -> String {
    let mut seen_at = false;
    let mut out: String = username
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            match c {
                'a'..='z' | '0'..='9' | '.' | '-' | '_' => c,
                '@' if !seen_at => {
                    seen_at = true;
                    c
                }
                _ => '-',
            }
        })
        .collect();
    if out.len() < 2 || !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "u-");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_usernames_fit_headscale() {
        assert_eq!(preferred_username("Alice.Smith"), "alice.smith");
        assert_eq!(preferred_username("jürgen"), "j-rgen");
        assert_eq!(preferred_username("bob@example.com"), "bob@example.com");
        assert_eq!(preferred_username("a@b@c"), "a@b-c");
        assert_eq!(preferred_username("42"), "u-42");
        assert_eq!(preferred_username("x"), "u-x");
    }
}
