//! Browser sessions: an opaque cookie whose SHA-256 digest keys the `sessions` table. The
//! engine asks [`SessionAuthenticator`] who is signing in; the pages ask [`Idp::person`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use latchkey_oidc::crypto::{random_token, sha256_hex};
use latchkey_oidc::{
    Authentication, Authenticator, AuthnRequest, BoxFuture, Principal, RoleError, Snapshot,
};
use latchkey_store::{Consent, Session, StoreError, Subject, User, unix_now};

use crate::client_policy::ClientPolicy;
use crate::cookies;
use crate::state::Idp;

/// How a person proved who they are (RFC 8176 `amr`): a passkey (`phr`, as Pocket ID), or a
/// one-time link (`otp`).
pub const AMR_PASSKEY: &str = "phr";
pub const AMR_LINK: &str = "otp";

/// What the idp calls when sessions end: (subject, the session's `sid`, or `None` for all).
pub type LogoutNotifier = Box<dyn Fn(Subject, Option<String>) + Send + Sync>;

/// The `sid` of a session (ID tokens and logout tokens): derived from its digest, so the
/// cookie's value cannot be recovered from it.
pub fn sid_of(id_hash: &str) -> String {
    latchkey_oidc::crypto::b64url(&latchkey_oidc::crypto::sha256(
        format!("latchkey-sid|{id_hash}").as_bytes(),
    ))[..22]
        .to_owned()
}

/// A session's last use is written at most this often.
const TOUCH_EVERY: i64 = 60;

/// The signed-in person, for a page.
pub struct Person {
    pub session: Session,
    pub user: User,
}

impl Idp {
    /// The person whose live session the request carries, if their account is enabled.
    pub async fn person(&self, headers: &HeaderMap) -> Result<Option<Person>, StoreError> {
        let Some(token) = cookies::read(headers, self.cookies.session) else {
            return Ok(None);
        };
        let now = unix_now();
        let Some(session) = self
            .store
            .find_session(self.issuer_id(), &sha256_hex(token.as_bytes()), now)
            .await?
        else {
            return Ok(None);
        };
        let Some(user) = self
            .store
            .find_user(&session.subject.0.clone().into())
            .await?
        else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        if session.last_used_at < now - TOUCH_EVERY {
            self.store
                .update_session_use(&session.id_hash, now, now - TOUCH_EVERY)
                .await?;
        }
        Ok(Some(Person { session, user }))
    }

    /// Starts a session for `user` and gives the cookie that carries it.
    pub async fn start_session(
        &self,
        user: &User,
        amr: &str,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<HeaderValue, StoreError> {
        // A new sign-in replaces the browser's previous session, which must not live on.
        if let Some(old) = cookies::read(headers, self.cookies.session) {
            self.store
                .delete_session(&sha256_hex(old.as_bytes()))
                .await?;
        }
        let token = random_token();
        let now = unix_now();
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let session = Session {
            id_hash: sha256_hex(token.as_bytes()),
            issuer: self.issuer_id().clone(),
            subject: Subject(user.id.0.clone()),
            auth_time: now,
            amr: vec![amr.to_owned()],
            created_at: now,
            expires_at: now + self.settings.session_duration,
            user_agent,
            ip: self
                .client_ip(headers, peer)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            last_used_at: now,
        };
        self.store.create_session(&session).await?;
        let detail = serde_json::json!({"amr": amr, "user_agent": session.user_agent});
        let ip = (!session.ip.is_empty()).then_some(session.ip.as_str());
        self.audit(
            crate::audit::SIGN_IN,
            Some(&session.subject),
            None,
            ip,
            detail,
        )
        .await;
        Ok(self
            .cookies
            .set(self.cookies.session, &token, self.settings.session_duration))
    }

    /// Ends the request's session (if any) and gives the cookie that clears it.
    pub async fn end_session(&self, headers: &HeaderMap) -> HeaderValue {
        if let Some(token) = cookies::read(headers, self.cookies.session) {
            let id_hash = sha256_hex(token.as_bytes());
            let session = self
                .store
                .find_session(self.issuer_id(), &id_hash, unix_now())
                .await;
            match self.store.delete_session(&id_hash).await {
                Ok(_) => {
                    if let Ok(Some(s)) = session {
                        self.logged_out(&s.subject, Some(&id_hash));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "deleting session failed"),
            }
        }
        self.cookies.clear(self.cookies.session)
    }

    /// Tells the clients of `subject`'s session `id_hash` (every session when `None`) that it
    /// ended, in the background (back-channel logout, through the notifier the binary set).
    pub fn logged_out(&self, subject: &Subject, id_hash: Option<&str>) {
        if let Some(notify) = self.logout.get() {
            notify(subject.clone(), id_hash.map(sid_of));
        }
    }

    /// Sets what [`Idp::logged_out`] calls: the engine's back-channel logout. Set once.
    pub fn set_logout_notifier(&self, notify: LogoutNotifier) {
        let _ = self.logout.set(notify);
    }

    /// The cookie that proves a fresh passkey check by `person`, in this session.
    pub(crate) fn reauth_cookie(&self, person: &Person) -> HeaderValue {
        let token = self
            .reauth
            .token("reauth", &person.session.id_hash, unix_now());
        self.cookies
            .set(self.cookies.reauth, &token, crate::state::REAUTH_LIFETIME)
    }

    /// Whether the request carries a fresh passkey check by `person`, in this session.
    pub(crate) fn reauthenticated(&self, headers: &HeaderMap, person: &Person) -> bool {
        self.reauth
            .verify_token(
                cookies::read(headers, self.cookies.reauth),
                "reauth",
                &person.session.id_hash,
                unix_now(),
            )
            .is_ok()
    }

    fn sign_in_url(&self, resume: &str) -> String {
        let mut url = url::Url::parse(&self.url("/login")).expect("issuer is a valid URL");
        url.query_pairs_mut().append_pair("return_to", resume);
        url.into()
    }

    fn interaction_url(&self, path: &str, resume: &str, deny: &str) -> String {
        let mut url = url::Url::parse(&self.url(path)).expect("issuer is a valid URL");
        url.query_pairs_mut()
            .append_pair("resume", resume)
            .append_pair("deny", deny);
        url.into()
    }
}

/// The engine's view of the idp: the browser session, then the client's rules (allowed
/// groups, consent).
pub struct SessionAuthenticator {
    idp: Arc<Idp>,
}

impl SessionAuthenticator {
    pub fn new(idp: Arc<Idp>) -> SessionAuthenticator {
        SessionAuthenticator { idp }
    }
}

impl Authenticator for SessionAuthenticator {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, RoleError>> {
        Box::pin(async move {
            let idp = &self.idp;
            let policy = ClientPolicy::of(req.client);
            // The client's own session duration, if it has one, is one more freshness bound.
            let client_bound = policy.session_duration.map(|d| unix_now() - d);
            let fresh_after = req.fresh_after.max(client_bound);
            let person = match idp.person(req.headers).await? {
                Some(p) if fresh_after.is_none_or(|t| p.session.auth_time >= t) => p,
                _ => {
                    return Ok(Authentication::Interaction(
                        idp.sign_in_url(req.resume_url.get()),
                    ));
                }
            };
            if !policy.allowed_groups.is_empty() {
                let groups = idp
                    .store
                    .find_directory_claims(&person.user.id)
                    .await?
                    .groups;
                if !policy.admits(&groups) {
                    if req.prompt_none {
                        return Ok(Authentication::Denied(format!(
                            "{} is in none of the client's allowed groups",
                            person.user.username
                        )));
                    }
                    return Ok(Authentication::Interaction(idp.interaction_url(
                        "/refused",
                        req.resume_url.get(),
                        req.resume_url.deny(),
                    )));
                }
            }
            if !policy.skip_consent {
                let subject = Subject(person.user.id.0.clone());
                let consent = idp
                    .store
                    .find_consent(idp.issuer_id(), &subject, &req.client.id)
                    .await?;
                if !consent_covers(
                    consent.as_ref(),
                    req.scope,
                    req.consent_prompt,
                    req.requested_at,
                ) {
                    return Ok(Authentication::Consent(idp.interaction_url(
                        "/consent",
                        req.resume_url.get(),
                        req.resume_url.deny(),
                    )));
                }
            }
            Ok(Authentication::Authenticated(Principal {
                subject: Subject(person.user.id.0),
                auth_time: person.session.auth_time,
                amr: person.session.amr,
                snapshot: Snapshot {
                    sid: Some(sid_of(&person.session.id_hash)),
                    ..Snapshot::default()
                },
            }))
        })
    }

    fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<std::net::IpAddr> {
        self.idp.client_ip(headers, peer)
    }

    fn end_session<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, HeaderMap> {
        Box::pin(async move {
            let mut out = HeaderMap::new();
            if cookies::read(headers, self.idp.cookies.session).is_some() {
                out.insert(header::SET_COOKIE, self.idp.end_session(headers).await);
            }
            out
        })
    }
}

/// Whether a recorded consent covers `scope`. With `prompt=consent` only a consent given
/// since the request arrived counts.
fn consent_covers(consent: Option<&Consent>, scope: &str, prompt: bool, requested_at: i64) -> bool {
    let Some(c) = consent else { return false };
    if prompt && c.updated_at < requested_at {
        return false;
    }
    let given: Vec<&str> = c.scope.split_whitespace().collect();
    scope.split_whitespace().all(|s| given.contains(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_store::{ClientId, IssuerId};

    fn consent(scope: &str, at: i64) -> Consent {
        Consent {
            issuer: IssuerId::from("idp"),
            subject: Subject::from("u"),
            client_id: ClientId::from("c"),
            scope: scope.into(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn consent_must_cover_every_scope_and_be_fresh_under_prompt_consent() {
        let c = consent("openid email profile", 100);
        assert!(consent_covers(Some(&c), "openid email", false, 50));
        assert!(!consent_covers(Some(&c), "openid groups", false, 50));
        assert!(!consent_covers(None, "openid", false, 50));
        assert!(!consent_covers(Some(&c), "openid", true, 150));
        assert!(consent_covers(Some(&c), "openid", true, 100));
    }
}
