//! The authorization endpoint: code flow only, exact redirect URIs, PKCE S256, `iss` in every
//! response (RFC 9207). Until the client and redirect URI are known to be good, errors are a
//! page for the person; after that they go back to the client.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_store::{Client, ClientId, GrantId, unix_now};
use latchkey_web::{FormPage, Site};

use super::{Peer, is_form, peer_addr, scope_list};
use crate::code::CodeClaims;
use crate::crypto::{b64url, b64url_decode, random_bytes};
use crate::error::ErrorPage;
use crate::params::Params;
use crate::pkce;
use crate::provider::Provider;
use crate::redirect::find_match;
use crate::role::{Authentication, AuthnRequest, ResumeUrl};

/// Added to the resume URL: the time the request first arrived, and a MAC over it all.
const RESUME_AFTER: &str = "lk_after";
const RESUME_SIG: &str = "lk_sig";
/// Added to a resume URL (under its MAC) that ends the request with `access_denied`.
const RESUME_DENY: &str = "lk_deny";

pub async fn get_authorize(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Peer,
    RawQuery(query): RawQuery,
) -> Response {
    match crate::params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => authorize(&p, &headers, &peer, params).await,
        Err(e) => ErrorPage::bad_request("Invalid request", e.to_string()).render(p.site()),
    }
}

pub async fn post_authorize(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let params = match body {
        Err(_) => Err("The request body could not be read.".to_owned()),
        Ok(_) if !is_form(&headers) => {
            Err("The authorization request must be form-encoded.".to_owned())
        }
        Ok(body) => crate::params::parse(&body).map_err(|e| e.to_string()),
    };
    match params {
        Ok(params) => authorize(&p, &headers, &peer, params).await,
        Err(message) => ErrorPage::bad_request("Invalid request", message).render(p.site()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    Query,
    FormPost,
}

/// Where and how the answer goes once the redirect URI is trusted.
struct Reply<'a> {
    site: &'a Site,
    issuer: &'a str,
    redirect_uri: String,
    state: Option<String>,
    mode: ResponseMode,
}

impl Reply<'_> {
    fn send(&self, mut pairs: Vec<(&str, String)>) -> Response {
        if let Some(state) = &self.state {
            pairs.push(("state", state.clone()));
        }
        pairs.push(("iss", self.issuer.to_owned()));
        match self.mode {
            ResponseMode::Query => {
                let mut url = self.redirect_uri.clone();
                let mut sep = if url.contains('?') { '&' } else { '?' };
                for (k, v) in &pairs {
                    url.push(sep);
                    sep = '&';
                    append_query_pair(&mut url, k, v);
                }
                see_other(self.site, &url)
            }
            ResponseMode::FormPost => form_post(self.site, &self.redirect_uri, &pairs),
        }
    }

    fn error(&self, code: &str, description: &str) -> Response {
        metrics::counter!("latchkey_authorize_errors_total", "error" => code.to_owned())
            .increment(1);
        self.send(vec![
            ("error", code.to_owned()),
            ("error_description", description.to_owned()),
        ])
    }
}

/// `k=v`, form-encoded; values made only of unreserved characters (the sealed code, which is
/// base64url and a few hundred bytes long) are copied as they are.
fn append_query_pair(out: &mut String, k: &str, v: &str) {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    for (i, part) in [k, v].into_iter().enumerate() {
        if i == 1 {
            out.push('=');
        }
        if part.bytes().all(unreserved) {
            out.push_str(part);
        } else {
            out.extend(url::form_urlencoded::byte_serialize(part.as_bytes()));
        }
    }
}

/// A 303 to `location`; a page if it cannot be a header (it always can for the URIs we
/// check).
pub(crate) fn see_other(site: &Site, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, v),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => ErrorPage::bad_request(
            "Invalid redirect",
            "The redirect target is not a valid URL.",
        )
        .render(site),
    }
}

/// The answer posted to the client by the browser (OAuth 2.0 Form Post Response Mode).
fn form_post(site: &Site, action: &str, pairs: &[(&str, String)]) -> Response {
    let fields: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    latchkey_web::auto_submit_page(
        site,
        &FormPage {
            title: "Back to the application",
            message: Some("If your browser does not take you there by itself, press Continue."),
            action,
            fields: &fields,
            button: "Continue",
        },
    )
}

fn resume_mac_input(issuer: &str, query: &str) -> Vec<u8> {
    format!("latchkey-authorize-resume|{issuer}|{query}").into_bytes()
}

/// The request time carried by a resume URL we made, if its MAC holds.
/// A resume URL older than this counts as a new request: a replayed old URL cannot stand in
/// for a fresh sign-in.
const RESUME_MAX_AGE: i64 = 15 * 60;

fn verified_resume_time(p: &Provider, params: &Params, now: i64) -> Option<i64> {
    let after = params.get(RESUME_AFTER)?;
    let sig = b64url_decode(params.get(RESUME_SIG)?).ok()?;
    let base = params.without(&[RESUME_SIG]).to_query();
    if !p
        .master
        .verify_mac(&resume_mac_input(p.issuer(), &base), &sig)
    {
        return None;
    }
    let after: i64 = after.parse().ok()?;
    (now - RESUME_MAX_AGE..=now)
        .contains(&after)
        .then_some(after)
}

fn resume_url(p: &Provider, params: &Params, requested_at: i64, deny: bool) -> String {
    let mut q = params.without(&[RESUME_AFTER, RESUME_SIG, RESUME_DENY]);
    q.push(RESUME_AFTER, &requested_at.to_string());
    if deny {
        q.push(RESUME_DENY, "1");
    }
    let base = q.to_query();
    let sig = b64url(&p.master.mac(&resume_mac_input(p.issuer(), &base)));
    q.push(RESUME_SIG, &sig);
    format!("{}/authorize?{}", p.issuer(), q.to_query())
}

async fn authorize(p: &Provider, headers: &HeaderMap, peer: &Peer, params: Params) -> Response {
    let now = unix_now();
    let resumed_at = verified_resume_time(p, &params, now);

    // 1. The client and the redirect URI: until both check out, nothing is redirected.
    let Some(client_id) = params.get("client_id") else {
        return ErrorPage::bad_request("Invalid request", "The request has no client_id.")
            .render(p.site());
    };
    let client = match p.find_client(&ClientId::from(client_id)).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return ErrorPage::bad_request(
                "Unknown application",
                "No application is registered with this client_id. The link that brought you here may be \
                 wrong or out of date: tell the application's administrator.",
            )
            .render(p.site());
        }
        Err(e) => return ErrorPage::internal(e).render(p.site()),
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(requested) => match find_match(&client.redirect_uris, requested) {
            Some(_) => requested.to_owned(),
            None => {
                return ErrorPage::bad_request(
                    "Invalid redirect URI",
                    "The redirect_uri is not registered for this application, so Latchkey will not send \
                     you there. Tell the application's administrator.",
                )
                .render(p.site());
            }
        },
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return ErrorPage::bad_request(
                "Invalid request",
                "The request has no redirect_uri, and the application has several.",
            )
            .render(p.site());
        }
    };
    let (mode, bad_mode) = match params.get("response_mode") {
        None | Some("query") => (ResponseMode::Query, false),
        Some("form_post") => (ResponseMode::FormPost, false),
        Some(_) => (ResponseMode::Query, true),
    };
    let reply = Reply {
        site: p.site(),
        issuer: p.issuer(),
        redirect_uri: redirect_uri.clone(),
        state: params.get("state").map(str::to_owned),
        mode,
    };

    // 2. The rest of the request, answered at the client.
    if bad_mode {
        return reply.error("invalid_request", "unsupported response_mode");
    }
    if params.get("request").is_some() {
        return reply.error("request_not_supported", "request objects are not supported");
    }
    if params.get("request_uri").is_some() {
        return reply.error("request_uri_not_supported", "request_uri is not supported");
    }
    match params.get("response_type") {
        None => return reply.error("invalid_request", "response_type is missing"),
        Some("code") => {}
        Some(_) => {
            return reply.error(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    let requested_scope = params.get("scope").unwrap_or_default();
    let scopes: Vec<&str> = scope_list(requested_scope)
        .into_iter()
        .filter(|s| p.settings.scopes_supported.iter().any(|x| x == s))
        .collect();
    let scope = scopes.join(" ");

    let challenge = params.get("code_challenge");
    match (challenge, params.get("code_challenge_method")) {
        (Some(c), Some("S256")) if pkce::is_well_formed(c) => {}
        (Some(_), Some("S256")) => {
            return reply.error("invalid_request", "code_challenge is malformed");
        }
        (Some(_), None) | (Some(_), Some("plain")) => {
            return reply.error(
                "invalid_request",
                "only code_challenge_method=S256 is allowed",
            );
        }
        (Some(_), Some(_)) => {
            return reply.error("invalid_request", "unsupported code_challenge_method");
        }
        (None, Some(_)) => {
            return reply.error(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (None, None) if client.public => {
            return reply.error(
                "invalid_request",
                "PKCE (S256) is required for public clients",
            );
        }
        (None, None) => {}
    }

    let prompts: Vec<&str> = params.get("prompt").map(scope_list).unwrap_or_default();
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        return reply.error(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    let max_age = match params.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(v)) if v >= 0 => Some(v),
        Some(_) => return reply.error("invalid_request", "max_age must be a non-negative integer"),
    };
    if resumed_at.is_some() && params.get(RESUME_DENY).is_some() {
        // Our own signed URL for "no": the person declined on the role's page.
        tracing::info!(client = %client.id, "authorization declined");
        return reply.error("access_denied", "the user did not allow this application");
    }
    let requested_at = resumed_at.unwrap_or(now);
    let mut fresh_after = None;
    // select_account: each browser holds one session, so choosing an account is signing in
    // again (with whichever passkey the person picks).
    if prompts.contains(&"login") || prompts.contains(&"select_account") {
        fresh_after = Some(requested_at);
    }
    if let Some(max_age) = max_age {
        fresh_after = Some(fresh_after.unwrap_or(i64::MIN).max(requested_at - max_age));
    }

    // 3. Who is this?
    let make_resume = |deny| resume_url(p, &params, requested_at, deny);
    let resume = ResumeUrl::new(&make_resume);
    let authn = AuthnRequest {
        headers,
        peer: peer_addr(peer),
        client: &client,
        scope: &scope,
        fresh_after,
        consent_prompt: prompts.contains(&"consent"),
        prompt_none,
        requested_at,
        resume_url: &resume,
    };
    let principal = match p.authenticator.authenticate(authn).await {
        Ok(Authentication::Authenticated(principal)) => principal,
        Ok(Authentication::Interaction(_)) if prompt_none => {
            return reply.error("login_required", "the user must sign in");
        }
        Ok(Authentication::Interaction(url)) => return see_other(p.site(), &url),
        Ok(Authentication::Consent(_)) if prompt_none => {
            return reply.error("consent_required", "the user must consent first");
        }
        Ok(Authentication::Consent(url)) => return see_other(p.site(), &url),
        Ok(Authentication::Unavailable(message)) if prompt_none => {
            // Silent renewal (an iframe) needs an answer, not a page.
            tracing::warn!(client = %client.id, %message, "sign-in unavailable");
            return reply.error(
                "temporarily_unavailable",
                "sign-in is unavailable right now",
            );
        }
        Ok(Authentication::Unavailable(message)) => {
            tracing::warn!(client = %client.id, %message, "sign-in unavailable");
            return ErrorPage::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                message,
            )
            .render(p.site());
        }
        Ok(Authentication::Denied(reason)) => {
            tracing::info!(client = %client.id, %reason, "authorization denied");
            return reply.error("access_denied", "the user may not use this application");
        }
        Err(e) => {
            tracing::error!(error = %e, "authenticator failed");
            return reply.error("server_error", "authentication is unavailable");
        }
    };
    if fresh_after.is_some_and(|t| principal.auth_time < t) {
        // prompt=none with a session too old for max_age, or an authenticator that could
        // not re-authenticate: never issue on a stale login.
        return reply.error("login_required", "a more recent sign-in is required");
    }
    if prompt_none
        && let Some(hint) = params.get("id_token_hint")
        && !hint_matches(p, hint, principal.subject.as_str())
    {
        return reply.error("login_required", "the signed-in user is not the one hinted");
    }

    // 4. Issue the code.
    let code = issue_code(p, &client, &redirect_uri, &params, &scope, principal);
    if code.len() > crate::code::MAX_CODE_LEN {
        tracing::error!(client = %client.id, len = code.len(), "the sign-in's claims make the code too large");
        return reply.error("server_error", "the sign-in carries too many claims");
    }
    reply.send(vec![("code", code)])
}

/// Whether an `id_token_hint` we signed names `subject` (expiry is not checked: hints are
/// often old).
pub(crate) fn hint_subject(p: &Provider, hint: &str) -> Option<(String, Vec<String>)> {
    let keys = p.keys.keys();
    let (header, claims) = crate::jose::verify_jwt(hint, |kid| keys.verifier(kid)).ok()?;
    // Only ID tokens are hints; an access token names no audience client.
    if header
        .typ
        .is_some_and(|t| t.eq_ignore_ascii_case(crate::tokens::ACCESS_TOKEN_TYP))
    {
        return None;
    }
    if claims.get("iss").and_then(|v| v.as_str()) != Some(p.issuer()) {
        return None;
    }
    let sub = claims.get("sub")?.as_str()?.to_owned();
    let aud = match claims.get("aud")? {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => return None,
    };
    Some((sub, aud))
}

fn hint_matches(p: &Provider, hint: &str, subject: &str) -> bool {
    hint_subject(p, hint).is_some_and(|(sub, _)| sub == subject)
}

fn issue_code(
    p: &Provider,
    client: &Client,
    redirect_uri: &str,
    params: &Params,
    scope: &str,
    principal: crate::role::Principal,
) -> String {
    let claims = CodeClaims {
        grant: GrantId(b64url(&random_bytes::<16>())),
        client: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        redirect_given: params.get("redirect_uri").is_some(),
        subject: principal.subject,
        scope: scope.to_owned(),
        nonce: params.get("nonce").map(str::to_owned),
        challenge: params.get("code_challenge").map(str::to_owned),
        auth_time: principal.auth_time,
        amr: principal.amr,
        snapshot: principal.snapshot,
        exp: unix_now() + p.settings.code_lifetime,
    };
    crate::code::seal(&p.master, p.issuer_id(), &claims)
}

#[cfg(test)]
mod tests {
    use super::append_query_pair;

    #[test]
    fn pairs_are_form_encoded_and_plain_values_copied() {
        let mut out = String::new();
        append_query_pair(&mut out, "code", "aZ09-._~");
        out.push('&');
        append_query_pair(&mut out, "state", "a b&c=d/é");
        assert_eq!(out, "code=aZ09-._~&state=a+b%26c%3Dd%2F%C3%A9");
        let parsed: Vec<(String, String)> = url::form_urlencoded::parse(out.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(parsed[1], ("state".into(), "a b&c=d/é".into()));
    }
}
