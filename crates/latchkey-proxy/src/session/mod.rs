//! Sessions kept server-side. Sign-in makes a new random reference (so no reference known
//! before sign-in survives it: no session fixation); the cookie carries it sealed; the store
//! keeps the identity and the provider's tokens (sealed) under the reference's digest.
//!
//! A session is refreshed when `cookie_refresh` has passed since the last refresh, or when
//! the provider's tokens have expired. One request refreshes, under the store's refresh
//! lease; concurrent requests (on this replica or another) wait for it and read the result.
//! Tokens that expired with no refresh token end the session.

pub mod cookie;
mod redis;
mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use latchkey_oidc::crypto::{MasterKey, random_bytes, random_token, sha256_hex};
use latchkey_store::{
    ProxyId, ProxyIdentity, ProxySession, ProxySessionRefresh, SealedTokens, Subject, unix_now,
};

use crate::provider::{ProviderError, RelyingParty, TokenSet, identity_from_claims};
pub use cookie::{Cookies, CsrfState, Reference};
pub use store::{Backend, RedisUrl, SessionError, SessionStoreType, check as check_store};

/// How often a request waiting for another's refresh reads the session again.
const WAIT_STEP: Duration = Duration::from_millis(50);

/// A session found for a request.
#[derive(Clone, Debug)]
pub struct Current {
    /// Shared with the in-memory copy on SQLite (no copy of the sealed tokens per request).
    pub session: Arc<ProxySession>,
    /// A `Set-Cookie` to send with the answer (after a refresh).
    pub set_cookie: Option<HeaderValue>,
}

impl Current {
    pub fn identity(&self) -> &ProxyIdentity {
        &self.session.identity
    }
}

/// What a request's cookie leads to.
#[derive(Debug)]
pub enum Lookup {
    Found(Box<Current>),
    /// No cookie, or one that is not ours.
    None {
        had_cookie: bool,
    },
    /// The cookie named a session that has ended (signed out, expired, refused at refresh):
    /// the answer should clear the cookie.
    Ended,
}

fn found(session: impl Into<Arc<ProxySession>>, set_cookie: Option<HeaderValue>) -> Lookup {
    Lookup::Found(Box::new(Current {
        session: session.into(),
        set_cookie,
    }))
}

pub struct Sessions {
    backend: Backend,
    master: Arc<MasterKey>,
    proxy: ProxyId,
    pub cookies: Cookies,
    /// How long a refresh may hold the lease: the provider's deadline, and some.
    lease_secs: i64,
}

impl Sessions {
    pub fn new(
        backend: Backend,
        master: Arc<MasterKey>,
        proxy: ProxyId,
        cookies: Cookies,
        provider_timeout: Duration,
    ) -> Sessions {
        let lease_secs = i64::try_from(provider_timeout.as_secs()).unwrap_or(60) + 5;
        Sessions {
            backend,
            master,
            proxy,
            cookies,
            lease_secs,
        }
    }

    fn token_aad(&self, kind: &str, id_hash: &str) -> Vec<u8> {
        format!("latchkey-proxy/token/v1\0{kind}\0{}\0{id_hash}", self.proxy).into_bytes()
    }

    fn seal_tokens(&self, id_hash: &str, t: &TokenSet) -> SealedTokens {
        let seal = |kind: &str, v: &str| {
            self.master
                .seal(v.as_bytes(), &self.token_aad(kind, id_hash))
        };
        SealedTokens {
            access: seal("access", &t.access_token),
            id: t.id_token.as_deref().map(|v| seal("id", v)),
            refresh: t.refresh_token.as_deref().map(|v| seal("refresh", v)),
        }
    }

    fn open_token(&self, id_hash: &str, kind: &str, sealed: &[u8]) -> Option<String> {
        let plain = self
            .master
            .open(sealed, &self.token_aad(kind, id_hash))
            .ok()?;
        String::from_utf8(plain).ok()
    }

    pub fn access_token(&self, s: &ProxySession) -> Option<String> {
        self.open_token(&s.id_hash, "access", &s.tokens.access)
    }

    pub fn id_token(&self, s: &ProxySession) -> Option<String> {
        self.open_token(&s.id_hash, "id", s.tokens.id.as_deref()?)
    }

    fn refresh_token(&self, s: &ProxySession) -> Option<String> {
        self.open_token(&s.id_hash, "refresh", s.tokens.refresh.as_deref()?)
    }

    /// A new session for `identity` with `tokens`; returns the `Set-Cookie` that carries it.
    /// `previous` (the digest of a session the browser had) is ended.
    pub async fn create(
        &self,
        identity: ProxyIdentity,
        tokens: &TokenSet,
        tokens_expire_at: Option<i64>,
        previous: Option<&str>,
        now: i64,
    ) -> Result<HeaderValue, SessionError> {
        if let Some(old) = previous {
            self.backend.delete(old).await?;
        }
        let reference: Reference = random_bytes();
        let id_hash = sha256_hex(&reference);
        let expire = self.cookies.expire_secs();
        let session = ProxySession {
            tokens: self.seal_tokens(&id_hash, tokens),
            id_hash,
            proxy: self.proxy.clone(),
            identity,
            tokens_expire_at,
            created_at: now,
            refreshed_at: now,
            expires_at: now.saturating_add(expire),
            generation: 0,
            lease_until: None,
        };
        self.backend.create(&session).await?;
        let value = self.cookies.seal_reference(&self.master, &reference);
        Ok(self.cookies.session_cookie(&value, expire))
    }

    /// The digest of the session the request's cookie names, if the cookie is ours.
    pub fn cookie_digest(&self, headers: &HeaderMap) -> Option<String> {
        self.cookies
            .open_reference(&self.master, headers)
            .map(|r| sha256_hex(&r))
    }

    /// Ends the session the request's cookie names, if any; returns its ID token (for
    /// signing out at the provider too).
    pub async fn end(&self, headers: &HeaderMap) -> Result<Option<String>, SessionError> {
        let Some(id_hash) = self.cookie_digest(headers) else {
            return Ok(None);
        };
        let id_token = self
            .backend
            .find(&id_hash, unix_now())
            .await?
            .and_then(|s| self.id_token(&s));
        self.backend.delete(&id_hash).await?;
        Ok(id_token)
    }

    pub async fn delete(&self, id_hash: &str) -> Result<(), SessionError> {
        self.backend.delete(id_hash).await?;
        Ok(())
    }

    /// Back-channel logout: the sessions of the provider's session `sid`.
    pub async fn end_by_sid(&self, sid: &str) -> Result<u64, SessionError> {
        self.backend.delete_by_sid(sid).await
    }

    /// Back-channel logout without a `sid`: every session of `subject`.
    pub async fn end_by_subject(&self, subject: &Subject) -> Result<u64, SessionError> {
        self.backend.delete_by_subject(subject).await
    }

    /// Whether the session store answers (the ready path).
    pub async fn ping(&self) -> Result<(), SessionError> {
        self.backend.ping().await
    }

    /// The request's session, refreshed first when it is due.
    pub async fn lookup(
        &self,
        rp: &RelyingParty,
        headers: &HeaderMap,
    ) -> Result<Lookup, SessionError> {
        let had_cookie = cookie::read(headers, &self.cookies.name).is_some();
        let Some(reference) = self.cookies.open_reference(&self.master, headers) else {
            return Ok(Lookup::None { had_cookie });
        };
        let id_hash = sha256_hex(&reference);
        let now = unix_now();
        let Some(session) = self.backend.find(&id_hash, now).await? else {
            return Ok(Lookup::Ended);
        };
        if !self.is_due(&session, now) {
            return Ok(found(session, None));
        }
        self.refresh(rp, &reference, Arc::unwrap_or_clone(session))
            .await
    }

    fn is_due(&self, s: &ProxySession, now: i64) -> bool {
        let every = self.cookies.refresh_secs();
        (every > 0 && now >= s.refreshed_at.saturating_add(every))
            || s.tokens_expire_at.is_some_and(|t| now >= t)
    }

    fn tokens_valid(s: &ProxySession, now: i64) -> bool {
        s.tokens_expire_at.is_none_or(|t| now < t)
    }

    /// One refresh per session at a time: take the lease and refresh, or wait for whoever
    /// holds it and use what they wrote.
    async fn refresh(
        &self,
        rp: &RelyingParty,
        reference: &Reference,
        mut session: ProxySession,
    ) -> Result<Lookup, SessionError> {
        let holder = random_token();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.lease_secs as u64);
        let first_generation = session.generation;
        loop {
            let now = unix_now();
            if session.tokens.refresh.is_none() {
                // Nothing to refresh with: the session lasts as long as its tokens.
                return Ok(if Self::tokens_valid(&session, now) {
                    found(session, None)
                } else {
                    self.delete(&session.id_hash).await?;
                    Lookup::Ended
                });
            }
            let taken = self
                .backend
                .take_lease(
                    &session.id_hash,
                    session.generation,
                    &holder,
                    now,
                    now + self.lease_secs,
                )
                .await?;
            if taken {
                return self
                    .refresh_under_lease(rp, reference, session, &holder)
                    .await;
            }
            if tokio::time::Instant::now() >= deadline {
                // Whoever holds the lease is taking too long; carry on with what we have.
                return Ok(if Self::tokens_valid(&session, now) {
                    found(session, None)
                } else {
                    Lookup::Ended
                });
            }
            tokio::time::sleep(WAIT_STEP).await;
            let now = unix_now();
            match self.backend.find_fresh(&session.id_hash, now).await? {
                None => return Ok(Lookup::Ended),
                Some(s) if s.generation != first_generation => {
                    // Someone else refreshed it.
                    return Ok(found(s, None));
                }
                Some(s) => session = s,
            }
        }
    }

    async fn refresh_under_lease(
        &self,
        rp: &RelyingParty,
        reference: &Reference,
        session: ProxySession,
        holder: &str,
    ) -> Result<Lookup, SessionError> {
        let now = unix_now();
        let Some(refresh_token) = self.refresh_token(&session) else {
            // Sealed under another key or for another row: not usable.
            self.delete(&session.id_hash).await?;
            return Ok(Lookup::Ended);
        };
        let result = rp
            .refresh(&refresh_token, session.identity.subject.as_str(), now)
            .await;
        let (mut tokens, claims) = match result {
            Ok(ok) => ok,
            Err(e) => return self.refresh_failed(session, holder, e, now).await,
        };
        let identity = match claims {
            Some(claims) => match identity_from_claims(&claims, &rp.settings) {
                // The session belongs to the provider session it was signed in with: a
                // refreshed ID token without `sid` (or with another) does not move it, or a
                // logout token naming that `sid` would miss it.
                Some(mut id) => {
                    if session.identity.sid.is_some() {
                        id.sid.clone_from(&session.identity.sid);
                    }
                    id
                }
                None => {
                    let e = ProviderError::Protocol("the refreshed ID token names no one".into());
                    return self.refresh_failed(session, holder, e, now).await;
                }
            },
            None => session.identity.clone(),
        };
        // A provider that does not rotate refresh tokens answers without one: keep ours.
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token);
        }
        if tokens.id_token.is_none() {
            tokens.id_token = self.id_token(&session);
        }
        crate::metrics::refresh("ok");
        let expire = self.cookies.expire_secs();
        let update = ProxySessionRefresh {
            identity,
            tokens: self.seal_tokens(&session.id_hash, &tokens),
            tokens_expire_at: tokens.expires_at,
            refreshed_at: now,
            expires_at: now.saturating_add(expire),
        };
        let written = self
            .backend
            .update_refreshed(&session.id_hash, holder, &update)
            .await?;
        if !written {
            // Our lease ran out and someone else moved on (or the session was ended).
            return Ok(
                match self
                    .backend
                    .find_fresh(&session.id_hash, unix_now())
                    .await?
                {
                    Some(s) => found(s, None),
                    None => Lookup::Ended,
                },
            );
        }
        tracing::debug!(subject = %update.identity.subject, "proxy session refreshed");
        let refreshed = ProxySession {
            identity: update.identity,
            tokens: update.tokens,
            tokens_expire_at: update.tokens_expire_at,
            refreshed_at: update.refreshed_at,
            expires_at: update.expires_at,
            generation: session.generation + 1,
            lease_until: None,
            ..session
        };
        let value = self.cookies.seal_reference(&self.master, reference);
        Ok(found(
            refreshed,
            Some(self.cookies.session_cookie(&value, expire)),
        ))
    }

    async fn refresh_failed(
        &self,
        session: ProxySession,
        holder: &str,
        e: ProviderError,
        now: i64,
    ) -> Result<Lookup, SessionError> {
        crate::metrics::refresh(if e.is_fatal() { "refused" } else { "failed" });
        if e.is_fatal() {
            tracing::info!(subject = %session.identity.subject, error = %e, "proxy session ended: the provider refused its refresh");
            self.delete(&session.id_hash).await?;
            return Ok(Lookup::Ended);
        }
        tracing::warn!(error = %e, "proxy session not refreshed");
        self.backend.release_lease(&session.id_hash, holder).await?;
        Ok(if Self::tokens_valid(&session, now) {
            found(session, None)
        } else {
            Lookup::Ended
        })
    }
}
