//! The WebAuthn JSON routes, as Pocket ID's, shared by the pages' script and by scripts:
//! `POST /api/webauthn/{register,login}/{start,finish}` and `/api/webauthn/reauthenticate`
//! (+ `/start`). A start answers `{"publicKey": options}` and puts the ceremony's sealed
//! state in a cookie for 60 seconds (no database row per anonymous start); a finish opens
//! it, checks the response, and records the ceremony as used, so each works once. Errors
//! are `{"error", "code"}` with Pocket ID's codes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use latchkey_oidc::crypto::{b64url, b64url_decode};
use latchkey_store::{Passkey, PasskeyUse, StoreError, Subject, unix_now};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cookies;
use crate::limits::Action;
use crate::pages::{Peer, peer_addr, safe_return};
use crate::passkey::{PasskeyError, PasskeyUser, StoredPasskey};
use crate::session::{AMR_PASSKEY, Person};
use crate::state::Idp;

pub(crate) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .route("/api/webauthn/login/start", post(post_login_start))
        .route("/api/webauthn/login/finish", post(post_login_finish))
        .route("/api/webauthn/register/start", post(post_register_start))
        .route("/api/webauthn/register/finish", post(post_register_finish))
        .route("/api/webauthn/reauthenticate/start", post(post_login_start))
        .route("/api/webauthn/reauthenticate", post(post_reauthenticate))
}

/// An answer in Pocket ID's error shape.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "webauthn route failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on the server.",
        )
    }

    fn failed() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "webauthn_authentication_failed",
            "This passkey was not accepted.",
        )
    }

    fn session_expired() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_webauthn_session",
            "The passkey request expired or was used already.",
        )
    }

    fn not_signed_in() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "not_signed_in", "Sign in first.")
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> ApiError {
        // The detail (what the verifier found) goes to the log; the caller gets the code and
        // a sentence about it.
        tracing::info!(error = %e, "passkey ceremony refused");
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let message = match e.code() {
            "invalid_webauthn_session" => "The passkey request expired or was used already.",
            "invalid_webauthn_response" => "The passkey's answer could not be read.",
            "passkey_user_verification_required" => {
                "The passkey must verify the person (PIN, fingerprint or face)."
            }
            "synced_passkey_not_allowed" => "Synced passkeys are not accepted here.",
            "webauthn_authentication_failed" => "This passkey was not accepted.",
            _ => "Something went wrong on the server.",
        };
        ApiError::new(status, e.code(), message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            axum::Json(json!({"error": self.message, "code": self.code})),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

type ApiResult = Result<Response, ApiError>;

/// A post must be JSON (so a cross-site form cannot send it without a preflight) and, when
/// the browser says where it comes from, come from our pages.
fn check_request(
    idp: &Idp,
    headers: &HeaderMap,
    body: &[u8],
    needs_body: bool,
) -> Result<(), ApiError> {
    if latchkey_web::csrf::check_same_origin(headers, &idp.site().origin).is_err() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "This request must come from Latchkey's own pages.",
        ));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if (needs_body || !body.is_empty()) && !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_webauthn_response",
            "Send the request as application/json.",
        ));
    }
    Ok(())
}

fn limit(idp: &Idp, action: Action, headers: &HeaderMap, peer: &Peer) -> Result<(), ApiError> {
    idp.limits
        .check(action, idp.client_ip(headers, peer_addr(peer)))
        .map_err(|wait| ApiError {
            retry_after: Some(wait.as_secs() + 1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many attempts. Wait a minute and try again.",
            )
        })
}

fn ceremony_state<'h>(idp: &Idp, headers: &'h HeaderMap) -> Result<&'h str, ApiError> {
    cookies::read(headers, idp.cookies.ceremony).ok_or_else(ApiError::session_expired)
}

/// The options, with the state cookie.
fn started(idp: &Idp, options: Value, state: String) -> Response {
    let max_age = idp.settings.passkeys.timeout.as_secs() as i64;
    let mut resp = (StatusCode::OK, axum::Json(options)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        idp.cookies.set(idp.cookies.ceremony, &state, max_age),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `{"redirect": to}`, clearing the ceremony cookie, plus `cookie` if given.
fn finished(idp: &Idp, to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut resp = (StatusCode::OK, axum::Json(json!({"redirect": to}))).into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, idp.cookies.clear(idp.cookies.ceremony));
    if let Some(c) = cookie {
        h.append(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Records the ceremony as used; a second finish with the same state is refused.
async fn spend(idp: &Idp, state: &str) -> Result<(), ApiError> {
    let (id, expires_at) = idp.ceremonies.ceremony_id(state)?;
    if idp.store.create_used_ceremony(&id, expires_at).await? {
        Ok(())
    } else {
        Err(ApiError::session_expired())
    }
}

#[derive(Deserialize)]
pub(crate) struct ReturnTo {
    return_to: Option<String>,
}

async fn post_login_start(
    State(idp): State<Arc<Idp>>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    check_request(&idp, &headers, &body, false)?;
    limit(&idp, Action::CeremonyStart, &headers, &peer)?;
    let (options, state) = idp.ceremonies.start_authentication(unix_now())?;
    Ok(started(&idp, options, state))
}

/// Checks an assertion against the ceremony in the cookie; the person and the passkey.
async fn verify_assertion(
    idp: &Idp,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(latchkey_store::User, Passkey), ApiError> {
    let state = ceremony_state(idp, headers)?;
    let assertion = idp.ceremonies.read_assertion(body)?;
    let credential_id = b64url(assertion.credential_id());
    let Some(passkey) = idp.store.find_passkey(&credential_id).await? else {
        tracing::info!("sign-in with a passkey this server does not know");
        return Err(ApiError::failed());
    };
    if assertion.user_handle() != passkey.user_id.as_str().as_bytes() {
        tracing::warn!(passkey = %credential_id, "assertion names another user than its passkey's");
        return Err(ApiError::failed());
    }
    let Some(user) = idp.store.find_user(&passkey.user_id).await? else {
        return Err(ApiError::failed());
    };
    let stored = StoredPasskey {
        credential_id: assertion.credential_id().to_vec(),
        user_handle: passkey.user_id.as_str().as_bytes().to_vec(),
        public_key: passkey.public_key.clone(),
        sign_count: u32::try_from(passkey.sign_count).unwrap_or(u32::MAX),
        backup_eligible: passkey.backup_eligible,
    };
    let now = unix_now();
    let verified = idp
        .ceremonies
        .finish_authentication(state, &assertion, &stored, now)?;
    // Said only to someone who holds the passkey.
    if user.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "user_disabled",
            "This account is disabled.",
        ));
    }
    spend(idp, state).await?;
    let used = PasskeyUse {
        sign_count: i64::from(verified.sign_count),
        backup_eligible: verified.backup_eligible,
        backup_state: verified.backup_state,
        at: now,
    };
    if !idp
        .store
        .update_passkey_use(&credential_id, passkey.sign_count, used)
        .await?
    {
        tracing::warn!(passkey = %credential_id, "passkey used twice at once; refusing the second");
        return Err(ApiError::failed());
    }
    Ok((user, passkey))
}

async fn post_login_finish(
    State(idp): State<Arc<Idp>>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<ReturnTo>,
    body: Bytes,
) -> ApiResult {
    check_request(&idp, &headers, &body, true)?;
    limit(&idp, Action::CeremonyFinish, &headers, &peer)?;
    let (user, passkey) = verify_assertion(&idp, &headers, &body).await?;
    let cookie = idp
        .start_session(&user, AMR_PASSKEY, &headers, peer_addr(&peer))
        .await?;
    tracing::info!(user = %user.username, passkey = %passkey.name, "signed in with a passkey");
    let to =
        safe_return(&idp, q.return_to.as_deref()).unwrap_or_else(|| idp.site().path("/account"));
    Ok(finished(&idp, &to, Some(cookie)))
}

async fn signed_in(idp: &Idp, headers: &HeaderMap) -> Result<Person, ApiError> {
    idp.person(headers)
        .await?
        .ok_or_else(ApiError::not_signed_in)
}

/// A session may add a passkey only while its sign-in is recent or after a fresh passkey
/// check: a stolen or unattended session must not be able to plant a passkey of its own.
pub(crate) const FRESH_FOR_NEW_PASSKEY: i64 = 600;

fn may_add_passkey(idp: &Idp, headers: &HeaderMap, person: &Person) -> Result<(), ApiError> {
    let fresh = person.session.auth_time >= unix_now() - FRESH_FOR_NEW_PASSKEY;
    if fresh || idp.reauthenticated(headers, person) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "reauthentication_required",
            "Confirm it is you with one of your passkeys before adding another.",
        ))
    }
}

/// The checks before a finish that a signed-in person makes: JSON, origin, rate, session.
async fn finish_for_person(
    idp: &Idp,
    headers: &HeaderMap,
    peer: &Peer,
    body: &[u8],
) -> Result<Person, ApiError> {
    check_request(idp, headers, body, true)?;
    limit(idp, Action::CeremonyFinish, headers, peer)?;
    signed_in(idp, headers).await
}

async fn post_register_start(
    State(idp): State<Arc<Idp>>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    check_request(&idp, &headers, &body, false)?;
    limit(&idp, Action::CeremonyStart, &headers, &peer)?;
    let person = signed_in(&idp, &headers).await?;
    may_add_passkey(&idp, &headers, &person)?;
    let exclude: Vec<Vec<u8>> = idp
        .store
        .list_passkeys(&person.user.id)
        .await?
        .iter()
        .filter_map(|p| b64url_decode(&p.credential_id).ok())
        .collect();
    let user = PasskeyUser {
        id: person.user.id.0.clone(),
        name: person.user.username.clone(),
        display_name: person.user.display_name.clone(),
    };
    let (options, state) = idp
        .ceremonies
        .start_registration(&user, &exclude, unix_now())?;
    Ok(started(&idp, options, state))
}

async fn post_register_finish(
    State(idp): State<Arc<Idp>>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<ReturnTo>,
    body: Bytes,
) -> ApiResult {
    let person = finish_for_person(&idp, &headers, &peer, &body).await?;
    may_add_passkey(&idp, &headers, &person)?;
    let state = ceremony_state(&idp, &headers)?;
    let now = unix_now();
    let new = idp.ceremonies.finish_registration(state, &body, now)?;
    if new.user_handle != person.user.id.as_str().as_bytes() {
        // A ceremony started by someone else signed in on this browser before.
        return Err(ApiError::session_expired());
    }
    spend(&idp, state).await?;
    let passkey = Passkey {
        credential_id: b64url(&new.credential_id),
        user_id: person.user.id.clone(),
        name: new.suggested_name.clone(),
        public_key: new.public_key.clone(),
        sign_count: i64::from(new.sign_count),
        backup_eligible: new.backup_eligible,
        backup_state: new.backup_state,
        transports: new.transports.clone(),
        aaguid: new.aaguid.iter().map(|b| format!("{b:02x}")).collect(),
        created_at: now,
        last_used_at: None,
    };
    match idp.store.create_passkey(&passkey).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "passkey_already_registered",
                "This passkey is registered already.",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %person.user.username, passkey = %passkey.name, "passkey registered");
    let ip = idp
        .client_ip(&headers, peer_addr(&peer))
        .map(|ip| ip.to_string());
    let subject = Subject(person.user.id.0.clone());
    let detail = json!({"passkey": passkey.name});
    idp.audit(
        crate::audit::PASSKEY_ADDED,
        Some(&subject),
        None,
        ip.as_deref(),
        detail,
    )
    .await;
    let to =
        safe_return(&idp, q.return_to.as_deref()).unwrap_or_else(|| idp.site().path("/account"));
    Ok(finished(&idp, &to, None))
}

/// A fresh passkey check by the signed-in person, for a sensitive change: sets the
/// short-lived re-authentication cookie.
async fn post_reauthenticate(
    State(idp): State<Arc<Idp>>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<ReturnTo>,
    body: Bytes,
) -> ApiResult {
    let person = finish_for_person(&idp, &headers, &peer, &body).await?;
    let (user, _) = verify_assertion(&idp, &headers, &body).await?;
    if user.id != person.user.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "reauthentication_required",
            "Use a passkey of the account you are signed in with.",
        ));
    }
    let cookie = idp.reauth_cookie(&person);
    let to =
        safe_return(&idp, q.return_to.as_deref()).unwrap_or_else(|| idp.site().path("/account"));
    Ok(finished(&idp, &to, Some(cookie)))
}
