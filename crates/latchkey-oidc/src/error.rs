//! Errors in the protocol's own shapes: RFC 6749 §5.2 JSON for back-channel endpoints, RFC 6750
//! for bearer-protected resources, an HTML page for people. Internal detail goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_web::Site;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// Set when the client tried HTTP Basic: the 401 then carries a challenge.
    pub basic_challenge: bool,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> OAuthError {
        let status = match code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        OAuthError {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }

    /// Logs `err` and answers a bare `server_error`.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new("server_error", "internal error")
    }

    /// 429: the caller must wait `seconds` (rate limits).
    pub fn too_many(code: &'static str, seconds: u64) -> Self {
        let mut e = Self::new(code, format!("too many requests; retry in {seconds} s"));
        e.status = StatusCode::TOO_MANY_REQUESTS;
        e.retry_after = Some(seconds);
        e
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl From<latchkey_store::StoreError> for OAuthError {
    fn from(err: latchkey_store::StoreError) -> Self {
        OAuthError::internal(err)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "error_description": self.description});
        let mut resp = (self.status, no_store_json(body.to_string())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.basic_challenge && self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"latchkey\""),
            );
        }
        resp
    }
}

/// JSON body with the caching headers RFC 6749 §5.1 requires for token responses.
pub fn no_store_json(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// RFC 6750 §3 errors for bearer-protected resources (userinfo).
#[derive(Debug, Clone)]
pub struct BearerError {
    pub code: Option<&'static str>,
    pub description: String,
}

impl BearerError {
    pub fn missing() -> Self {
        BearerError {
            code: None,
            description: String::new(),
        }
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        BearerError {
            code: Some("invalid_token"),
            description: d.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        BearerError {
            code: Some("invalid_request"),
            description: d.into(),
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenge, body) = match self.code {
            None => (
                StatusCode::UNAUTHORIZED,
                "Bearer realm=\"latchkey\"".to_string(),
                String::new(),
            ),
            Some(code) => {
                let status = match code {
                    "invalid_request" => StatusCode::BAD_REQUEST,
                    "insufficient_scope" => StatusCode::FORBIDDEN,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let desc = self.description.replace(['"', '\\'], "'");
                (
                    status,
                    format!(
                        "Bearer realm=\"latchkey\", error=\"{code}\", error_description=\"{desc}\""
                    ),
                    serde_json::json!({"error": code, "error_description": self.description})
                        .to_string(),
                )
            }
        };
        let mut resp = (status, no_store_json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// An error shown to a person, when there is no trustworthy redirect target: a page in
/// `latchkey-web`'s layout, which escapes everything.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl ErrorPage {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        ErrorPage {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    /// Logs `err` under a short reference that the page shows, so a person can point an
    /// administrator at the log line without seeing its detail.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let reference = crate::crypto::b64url(&crate::crypto::random_bytes::<6>());
        tracing::error!(error = %err, %reference, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            format!(
                "The server could not complete this request. Try again in a moment; if it keeps \
                 happening, give your administrator this reference: {reference}."
            ),
        )
    }

    pub fn render(&self, site: &Site) -> Response {
        latchkey_web::message_page(site, self.status, self.title, &self.message, None)
    }
}

impl From<latchkey_store::StoreError> for ErrorPage {
    fn from(err: latchkey_store::StoreError) -> Self {
        ErrorPage::internal(err)
    }
}
