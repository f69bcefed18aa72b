//! Errors in the protocol's own shapes: RFC 6749 §5.2 JSON for back-channel endpoints, RFC 6750
//! for bearer-protected resources, an HTML page for people. Internal detail goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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

/// An error shown to a person: when there is no trustworthy redirect target.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl ErrorPage {
    pub fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        ErrorPage {
            status: StatusCode::BAD_REQUEST,
            title,
            message: message.into(),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        ErrorPage {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message: "The server could not complete this request. Try again later.".into(),
        }
    }
}

impl From<latchkey_store::StoreError> for ErrorPage {
    fn from(err: latchkey_store::StoreError) -> Self {
        ErrorPage::internal(err)
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>{title}</title></head><body><main><h1>{title}</h1><p>{message}</p></main></body></html>",
            title = html_escape(self.title),
            message = html_escape(&self.message),
        );
        (
            self.status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    }
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
