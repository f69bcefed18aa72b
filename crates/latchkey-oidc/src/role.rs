//! The two questions the engine asks its role — who is this request ([`Authenticator`]) and
//! what do we say about them ([`ClaimsSource`]) — and the typed answers and errors.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::http::HeaderMap;
use latchkey_store::{Client, StoreError, Subject};
use serde_json::{Map, Value};

use crate::snapshot::{Snapshot, SnapshotError};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a role could not answer. The engine logs it and answers `server_error` (or an error
/// page); its text never reaches the client.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The connection's peer address is needed and the server did not record one.
    #[error("the request has no peer address")]
    NoPeer,
    /// The subject is no longer one who may sign in here (deleted or disabled): its grants
    /// are not to be used, which is the client's answer, not a failure of ours.
    #[error("the user no longer exists or is disabled")]
    Gone,
    /// The role's identity source (tailscaled, a directory, …) failed.
    #[error("{what}: {source}")]
    Source {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RoleError {
    pub fn source(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        RoleError::Source {
            what,
            source: Box::new(e),
        }
    }
}

/// Why RFC 8707 resources or RFC 8693 audiences were not granted.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// This issuer grants no other audiences (the client gets `invalid_target`).
    #[error("this issuer does not issue tokens for other resources")]
    NotOffered,
    #[error(transparent)]
    Role(#[from] RoleError),
}

/// What the engine knows about an authorization request when it asks who the user is.
pub struct AuthnRequest<'a> {
    pub headers: &'a HeaderMap,
    pub peer: Option<SocketAddr>,
    pub client: &'a Client,
    pub scope: &'a str,
    /// The user must have authenticated at or after this time (prompt=login, max_age);
    /// an older session must lead to interaction.
    pub fresh_after: Option<i64>,
    /// prompt=consent was asked for.
    pub consent_prompt: bool,
    /// prompt=none: any interaction will be turned into an error by the engine.
    pub prompt_none: bool,
    /// When this request first arrived (a resumed request keeps its first time): what the
    /// person did on an interaction page since then (signed in, consented) counts for it.
    pub requested_at: i64,
    /// Where to send the browser once interaction is done, to continue this request.
    pub resume_url: &'a ResumeUrl<'a>,
}

/// The signed URLs that resume an authorization request, made only if a role asks for them
/// (a silent sign-in never does): [`ResumeUrl::get`] continues it; [`ResumeUrl::deny`] ends
/// it with `access_denied` at the client (the person declined, or may not use the client
/// and was told so on a page of the role's).
pub struct ResumeUrl<'a> {
    make: &'a (dyn Fn(bool) -> String + Send + Sync),
    url: std::sync::OnceLock<String>,
    deny: std::sync::OnceLock<String>,
}

impl<'a> ResumeUrl<'a> {
    /// `make(deny)` builds the URL.
    pub fn new(make: &'a (dyn Fn(bool) -> String + Send + Sync)) -> ResumeUrl<'a> {
        ResumeUrl {
            make,
            url: std::sync::OnceLock::new(),
            deny: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> &str {
        self.url.get_or_init(|| (self.make)(false))
    }

    pub fn deny(&self) -> &str {
        self.deny.get_or_init(|| (self.make)(true))
    }
}

/// The authenticated user, as the role vouches for them.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: Subject,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// What the role knew at sign-in, kept with the grant and handed back to its
    /// [`ClaimsSource`].
    pub snapshot: Snapshot,
}

// Returned once per authorization request and matched at once: boxing the common variant
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Authentication {
    Authenticated(Principal),
    /// The user must do something first: send the browser to this URL.
    Interaction(String),
    /// The user is signed in but must consent first, at this URL (under `prompt=none` the
    /// client gets `consent_required`).
    Consent(String),
    /// This user may not use this client (`access_denied`), with a reason for the log.
    Denied(String),
    /// The role cannot tell who this is right now (e.g. its identity source is down). The
    /// person gets a 503 page with this message, which must be fit to show them.
    Unavailable(String),
}

pub trait Authenticator: Send + Sync + 'static {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, RoleError>>;

    /// The address rate limits count against: the TCP peer, unless the role knows the real
    /// caller behind a proxy it trusts.
    fn client_ip(
        &self,
        _headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Option<std::net::IpAddr> {
        peer.map(|p| p.ip().to_canonical())
    }

    /// Whether this caller may register a client when the issuer does not allow open
    /// registration. Default: no.
    fn may_register<'a>(
        &'a self,
        _headers: &'a HeaderMap,
        _peer: Option<SocketAddr>,
    ) -> BoxFuture<'a, Result<bool, RoleError>> {
        Box::pin(async { Ok(false) })
    }

    /// Ends the user's session at RP-initiated logout; returns headers to add (e.g. a cookie
    /// that clears the session).
    fn end_session<'a>(&'a self, _headers: &'a HeaderMap) -> BoxFuture<'a, HeaderMap> {
        Box::pin(async { HeaderMap::new() })
    }
}

/// Where the claims are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsFor {
    IdToken,
    Userinfo,
}

pub trait ClaimsSource: Send + Sync + 'static {
    /// Claims about `subject` for the granted `scopes`, from the sign-in `snapshot` (and
    /// whatever the role reads now). Never `sub`, `iss`, `aud` or other registered JWT claims:
    /// the engine sets those and drops them from the answer.
    fn claims<'a>(
        &'a self,
        subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Snapshot,
        purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, RoleError>>;

    /// Whether `subject` may still use `client`, asked before a refresh token is used (an
    /// account disabled, or no longer in the client's groups, since the grant). Default: yes.
    fn may_continue<'a>(
        &'a self,
        _subject: &'a Subject,
        _client: &'a Client,
    ) -> BoxFuture<'a, Result<bool, RoleError>> {
        Box::pin(async { Ok(true) })
    }

    /// Which of the requested resource indicators (RFC 8707) this grant may have as access
    /// token audiences. By default none: [`TargetError::NotOffered`].
    fn audiences(
        &self,
        _subject: &Subject,
        _snapshot: &Snapshot,
        requested: &[&str],
    ) -> Result<Vec<String>, TargetError> {
        if requested.is_empty() {
            Ok(Vec::new())
        } else {
            Err(TargetError::NotOffered)
        }
    }
}

/// Which claims a scope releases (OIDC Core §5.4), used by claim sources that hold a
/// full profile.
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        "groups" => &["groups"],
        _ => &[],
    }
}
