//! The browser session: an opaque cookie whose SHA-256 digest keys the `sessions` table.

use axum::http::{HeaderMap, HeaderValue, header};
use latchkey_oidc::crypto::sha256_hex;
use latchkey_oidc::{
    Authentication, Authenticator, AuthnRequest, BoxFuture, Principal, RoleError, Snapshot,
};
use latchkey_store::{IssuerId, Store, unix_now};

/// Cookie name over plain http (development, `http://localhost`).
pub const SESSION_COOKIE: &str = "latchkey_session";
/// Cookie name over https: `__Host-` pins it to this host, path `/`, Secure.
pub const SESSION_COOKIE_SECURE: &str = "__Host-latchkey_session";

pub fn session_cookie_name(issuer: &str) -> &'static str {
    if issuer.starts_with("https://") {
        SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE
    }
}

pub struct SessionAuthenticator {
    store: Store,
    issuer_id: IssuerId,
    cookie: &'static str,
    login_url: String,
}

impl SessionAuthenticator {
    pub fn new(store: Store, issuer_id: IssuerId, issuer: &str) -> SessionAuthenticator {
        SessionAuthenticator {
            store,
            issuer_id,
            cookie: session_cookie_name(issuer),
            login_url: format!("{}/login", issuer.trim_end_matches('/')),
        }
    }

    fn session_token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == self.cookie)
            .map(|(_, v)| v)
    }

    fn interaction(&self, resume: &str) -> Authentication {
        let mut url = url::Url::parse(&self.login_url).expect("issuer is a valid URL");
        url.query_pairs_mut().append_pair("return_to", resume);
        Authentication::Interaction(url.into())
    }
}

impl Authenticator for SessionAuthenticator {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, RoleError>> {
        Box::pin(async move {
            let Some(token) = self.session_token(req.headers) else {
                return Ok(self.interaction(req.resume_url.get()));
            };
            let session = self
                .store
                .find_session(&self.issuer_id, &sha256_hex(token.as_bytes()), unix_now())
                .await?;
            match session {
                Some(s) if req.fresh_after.is_none_or(|t| s.auth_time >= t) => {
                    Ok(Authentication::Authenticated(Principal {
                        subject: s.subject,
                        auth_time: s.auth_time,
                        amr: s.amr,
                        snapshot: Snapshot::default(),
                    }))
                }
                _ => Ok(self.interaction(req.resume_url.get())),
            }
        })
    }

    fn end_session<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, HeaderMap> {
        Box::pin(async move {
            let mut out = HeaderMap::new();
            if let Some(token) = self.session_token(headers) {
                if let Err(e) = self
                    .store
                    .delete_session(&sha256_hex(token.as_bytes()))
                    .await
                {
                    tracing::warn!(error = %e, "deleting session failed");
                }
                let secure = if self.cookie == SESSION_COOKIE_SECURE {
                    "; Secure"
                } else {
                    ""
                };
                let clear = format!(
                    "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}",
                    self.cookie
                );
                if let Ok(v) = HeaderValue::from_str(&clear) {
                    out.insert(header::SET_COOKIE, v);
                }
            }
            out
        })
    }
}
