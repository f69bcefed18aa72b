//! HTML pages: a role renders its content with its own askama template, and the page is that
//! content inside the shared layout. Composition rather than template inheritance, because
//! askama resolves `{% extends %}` only within one crate's templates.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::assets::STYLESHEET_PATH;

/// Where a role's pages live: the origin form posts must come from, and the path prefix of
/// the issuer (empty when the issuer is at the root of its host), for links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub origin: String,
    pub base: String,
}

impl Site {
    /// From the issuer URL. A URL that does not parse gives an origin nothing matches.
    pub fn from_issuer(issuer: &str) -> Site {
        match url::Url::parse(issuer) {
            Ok(u) => Site {
                origin: u.origin().ascii_serialization(),
                base: u.path().trim_end_matches('/').to_owned(),
            },
            Err(_) => Site {
                origin: "null".into(),
                base: String::new(),
            },
        }
    }

    /// An absolute path on this site: `path` must start with `/`.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    stylesheet: String,
    /// Rendered by an askama template, which escaped everything it was given.
    content: &'a str,
    /// A person-facing page (one centred card under Latchkey's mark) rather than a wide
    /// admin page.
    card: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
    back: Option<&'a str>,
}

/// `content` in the wide layout (admin pages), as a no-store HTML answer (pages may carry
/// CSRF tokens or secrets shown once).
pub fn render<T: Template>(site: &Site, status: StatusCode, title: &str, content: &T) -> Response {
    render_in(site, status, title, content, false)
}

/// `content` in a card, for pages a person meets on the way somewhere (sign-in, sign-out,
/// errors).
pub fn render_card<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    content: &T,
) -> Response {
    render_in(site, status, title, content, true)
}

fn render_in<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    content: &T,
    card: bool,
) -> Response {
    let page = content.render().and_then(|content| {
        Layout {
            title,
            stylesheet: site.path(STYLESHEET_PATH),
            content: &content,
            card,
        }
        .render()
    });
    match page {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>The page could not be shown.</p>".into(),
            )
        }
    }
}

/// A page that says one thing: an error, or the outcome of an action. `back` is a link
/// offered below the message.
pub fn message_page(
    site: &Site,
    status: StatusCode,
    title: &str,
    message: &str,
    back: Option<&str>,
) -> Response {
    render_card(
        site,
        status,
        title,
        &Message {
            title,
            message,
            back,
        },
    )
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Instead of the binary's `no-referrer`, under which a browser sends `Origin: null`
            // with our own form posts; nothing leaves the origin either way.
            (header::REFERRER_POLICY, "same-origin"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_from_issuer() {
        let s = Site::from_issuer("https://idp.tail1234.ts.net");
        assert_eq!(s.origin, "https://idp.tail1234.ts.net");
        assert_eq!(s.path("/clients"), "/clients");
        let s = Site::from_issuer("http://127.0.0.1:8080/tsidp/");
        assert_eq!(s.origin, "http://127.0.0.1:8080");
        assert_eq!(s.path("/clients"), "/tsidp/clients");
        let s = Site::from_issuer("HTTPS://IDP.Example:443");
        assert_eq!(s.origin, "https://idp.example", "as browsers serialise it");
        assert_eq!(Site::from_issuer("not a url").origin, "null");
    }

    #[tokio::test]
    async fn pages_escape_and_are_not_cached() {
        let site = Site::from_issuer("https://idp.example/x");
        let resp = message_page(
            &site,
            StatusCode::FORBIDDEN,
            "No <entry>",
            "\"quoted\" & <b>bold</b>",
            Some("/x/"),
        );
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(resp.headers()[header::REFERRER_POLICY], "same-origin");
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.contains("No &#60;entry&#62;"), "{body}");
        assert!(body.contains("&#60;b&#62;bold&#60;/b&#62;"), "{body}");
        assert!(!body.contains("<b>"), "{body}");
        assert!(body.contains("href=\"/x/assets/latchkey.css\""), "{body}");
        assert!(!body.contains("<style") && !body.contains("<script"));
    }
}
