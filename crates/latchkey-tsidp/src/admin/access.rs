//! Who may use the admin pages, and the CSRF checks on their forms.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_store::unix_now;
use latchkey_web::{CsrfError, Form, FormError, FormRules, TOKEN_FIELD, message_page};

use super::{AdminState, CSRF_PURPOSE};
use crate::authenticator::CallerError;
use crate::grants::CAP_TSIDP;

/// A caller the tailnet policy lets administer this issuer. Extracting it refuses everyone
/// else with a page (403; 503 when tailscaled cannot say who is calling).
#[derive(Debug, Clone)]
pub struct AdminUser {
    /// `userid:N`, what the CSRF tokens and the audit log name.
    pub subject: String,
    /// The tailnet login, shown on the pages and recorded in the audit log.
    pub login: String,
    pub addr: SocketAddr,
}

/// Why a posted form was not acted on.
#[derive(Debug)]
pub(super) enum FormRefused {
    /// Not from our page, or not for this admin.
    Csrf(CsrfError),
    Garbled(FormError),
}

impl FromRequestParts<AdminState> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AdminState) -> Result<Self, Response> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        s.admit(&parts.headers, peer).await
    }
}

impl AdminState {
    async fn admit(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Result<AdminUser, Response> {
        let caller = match self.authenticator.identify(headers, peer).await {
            Ok(c) => c,
            Err(CallerError::Funnel) => {
                return Err(self.refusal(
                    StatusCode::FORBIDDEN,
                    "Not available over Funnel",
                    "The admin UI works only from inside the tailnet.",
                ));
            }
            Err(CallerError::NoPeer) => {
                tracing::error!("admin UI: no peer address on the connection");
                return Err(self.refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not tell where this request came from.",
                ));
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "admin UI: cannot tell who is calling");
                return Err(self.refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Cannot tell who you are",
                    &e.to_string(),
                ));
            }
            Err(e) => {
                tracing::info!(reason = %e, "admin UI refused");
                return Err(self.refusal(
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    &format!(
                        "The admin UI is for people on the tailnet whose grant allows it: {e}."
                    ),
                ));
            }
        };
        if caller.whois.is_tagged() {
            tracing::info!(addr = %caller.addr, "admin UI refused: tagged node");
            return Err(self.refusal(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "This is a tagged node, not a person: the admin UI is for people.",
            ));
        }
        if !caller.grants.allow_admin_ui {
            tracing::info!(subject = %caller.subject, addr = %caller.addr, "admin UI refused: no allow_admin_ui");
            return Err(self.refusal(
                StatusCode::FORBIDDEN,
                "Not allowed",
                &format!(
                    "Your grant in the tailnet policy ({CAP_TSIDP}) does not say allow_admin_ui. \
                     Ask a tailnet admin to add it, or manage clients with `latchkey clients` on the server."
                ),
            ));
        }
        Ok(AdminUser {
            subject: caller.subject,
            login: caller.whois.user.login_name,
            addr: caller.addr,
        })
    }

    /// A fresh CSRF token for the forms `user` will post.
    pub(super) fn csrf_token(&self, user: &AdminUser) -> String {
        self.csrf.token(CSRF_PURPOSE, &user.subject, unix_now())
    }

    /// The posted form, once it is known to come from our own page, issued to this admin
    /// within the hour.
    pub(super) fn posted_form(
        &self,
        user: &AdminUser,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Form, FormRefused> {
        latchkey_web::csrf::check_same_origin(headers, &self.site.origin)
            .map_err(FormRefused::Csrf)?;
        let form = FormRules::PAGE.parse(body).map_err(FormRefused::Garbled)?;
        self.csrf
            .verify_token(
                form.get(TOKEN_FIELD),
                CSRF_PURPOSE,
                &user.subject,
                unix_now(),
            )
            .map_err(FormRefused::Csrf)?;
        Ok(form)
    }

    /// The page that says why a form was refused: 403, or 400 for a garbled form.
    pub(super) fn form_refused(&self, user: &AdminUser, e: FormRefused) -> Response {
        match e {
            FormRefused::Csrf(e) => {
                tracing::warn!(subject = %user.subject, addr = %user.addr, reason = %e, "admin UI: form refused");
                self.refusal(
                    StatusCode::FORBIDDEN,
                    "Form not accepted",
                    &format!(
                        "This form could not be accepted ({e}). Open the admin UI at {}/ and try again.",
                        self.provider.issuer()
                    ),
                )
            }
            FormRefused::Garbled(e) => {
                self.page_error(StatusCode::BAD_REQUEST, "Form not accepted", &e.to_string())
            }
        }
    }

    /// A page for someone who may not (or cannot now) use the admin UI: no links into it.
    fn refusal(&self, status: StatusCode, title: &str, message: &str) -> Response {
        message_page(&self.site, status, title, message, None)
    }

    /// A page for an admin, with a link back to the list.
    pub(super) fn page_error(&self, status: StatusCode, title: &str, message: &str) -> Response {
        message_page(
            &self.site,
            status,
            title,
            message,
            Some(&self.site.path("/")),
        )
    }

    /// Logs `err` and answers a bare 500 page.
    pub(super) fn internal(&self, err: impl std::fmt::Display) -> Response {
        tracing::error!(error = %err, "admin UI: internal error");
        self.page_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The server could not complete this request. Try again later.",
        )
    }
}
