//! Enrichment from the Latchkey directory: when the idp role keeps its directory in the same
//! database, a tailnet user whose login is a directory e-mail address gets that person's
//! groups and custom claims, so apps can authorise on groups defined at the source of truth.
//!
//! The directory is read when tokens and userinfo are issued, not at sign-in, so a change
//! (someone leaves a group) reaches the next refresh. Answers are cached for [`TTL`].

use std::sync::Arc;
use std::time::Duration;

use latchkey_oidc::ttl_cache::TtlCache;
use latchkey_oidc::{BoxFuture, ClaimsFor, ClaimsSource, RoleError, Snapshot, TargetError};
use latchkey_store::{DirectoryClaims, Store, StoreError, Subject};
use serde_json::{Map, Value};

use crate::claims::with_directory;
use crate::claims_source::{TailnetClaims, gate};
use crate::sign_in::TailnetSignIn;

pub const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;

/// [`TailnetClaims`], plus what the directory says about the person.
pub struct TailnetDirectoryClaims {
    store: Store,
    /// By lower-cased login; `None` (no such person, or disabled) is cached too.
    cache: TtlCache<String, Option<Arc<DirectoryClaims>>>,
}

impl TailnetDirectoryClaims {
    pub fn new(store: Store) -> TailnetDirectoryClaims {
        TailnetDirectoryClaims {
            store,
            cache: TtlCache::new(TTL, MAX_ENTRIES),
        }
    }

    async fn lookup(&self, login: &str) -> Result<Option<Arc<DirectoryClaims>>, StoreError> {
        let key = latchkey_store::fold(login);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let found = match self.store.find_user_by_email(login).await? {
            // A disabled person keeps only what the tailnet says.
            Some(user) if !user.disabled => {
                Some(Arc::new(self.store.find_directory_claims(&user.id).await?))
            }
            _ => None,
        };
        self.cache.insert(key, found.clone());
        Ok(found)
    }
}

impl ClaimsSource for TailnetDirectoryClaims {
    fn claims<'a>(
        &'a self,
        _subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Snapshot,
        purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>> {
        Box::pin(async move {
            let sign_in: TailnetSignIn = snapshot.extension()?;
            let login = sign_in.login.clone();
            let mut out = gate(sign_in, scopes, purpose);
            if login.contains('@')
                && let Some(d) = self.lookup(&login).await?
            {
                with_directory(&mut out, &d, scopes.contains(&"profile"));
            }
            Ok(out)
        })
    }

    fn audiences(
        &self,
        subject: &Subject,
        snapshot: &Snapshot,
        requested: &[&str],
    ) -> Result<Vec<String>, TargetError> {
        TailnetClaims.audiences(subject, snapshot, requested)
    }
}
