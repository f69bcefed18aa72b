//! HTML pages: a role renders its content with its own askama template, and the page is that
//! content inside the shared layout. Composition rather than template inheritance, because
//! askama resolves `{% extends %}` only within one crate's templates.
//!
//! Three shells, each a no-store HTML answer:
//! - [`render_card`]: person-facing pages (sign-in, consent, setup, errors): one centred card
//!   (400 px) under Latchkey's mark and name. The content starts with its `<h1>`.
//! - [`render_app`]: account and admin pages: a top bar (`<header>` with the mark linking to the
//!   site's root, a `<nav>` of [`NavLink`]s with the current one `aria-current="page"`, the
//!   person's name and a sign-out POST form carrying its CSRF field), a skip link, and the
//!   content in `<main id="main">` up to 960 px. The content starts with its `<h1>` (or a
//!   `.page-head`).
//! - [`render`]: the plain wide layout (content only), kept for pages that draw their own nav.
//!
//! `render_card_with_script` and `render_app_with_script` add
//! `<script src="{base}/assets/latchkey.js" defer>`: passkey buttons, autofill, copy buttons
//! (see the contract at the top of `assets/latchkey.js`). Pages are served under
//! `default-src 'self'`: no inline script, event handler or `style=""` in any template; the
//! classes are listed at the top of `assets/latchkey.css`, the icons are in [`crate::icons`].
//!
//! ```ignore
//! let nav = [NavLink { label: "Passkeys".into(), href: site.path("/account"), current: true }];
//! let shell = Shell {
//!     nav: &nav,
//!     person: Some(&user.display_name),
//!     sign_out: Some(SignOut { action: &site.path("/logout"), csrf_field: TOKEN_FIELD, csrf_token: &token }),
//! };
//! render_app_with_script(&site, StatusCode::OK, "Passkeys", &shell, &PasskeysPage { .. })
//! ```

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::assets::{FAVICON_PATH, SCRIPT_PATH, STYLESHEET_PATH};
use crate::icons;

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

/// A link in the app shell's top bar. `href` is used as given (build it with [`Site::path`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavLink {
    pub label: String,
    pub href: String,
    /// The section the page belongs to: marked `aria-current="page"`.
    pub current: bool,
}

/// The sign-out button of the app shell: a POST form to `action` (used as given) carrying
/// the CSRF token as the hidden field `csrf_field` (usually [`crate::TOKEN_FIELD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOut<'a> {
    pub action: &'a str,
    pub csrf_field: &'a str,
    pub csrf_token: &'a str,
}

/// What the app shell's top bar shows besides Latchkey's mark: section links, the signed-in
/// person's name and a sign-out button. Any part may be empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shell<'a> {
    pub nav: &'a [NavLink],
    pub person: Option<&'a str>,
    pub sign_out: Option<SignOut<'a>>,
}

/// How the content is framed.
enum Frame<'a> {
    /// One centred card under Latchkey's mark.
    Card,
    /// The plain wide layout, content only.
    Wide,
    /// A top bar and content up to 960 px.
    App(&'a Shell<'a>),
}

#[derive(Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    stylesheet: String,
    favicon: String,
    /// The script's URL, on pages that load it.
    script: Option<String>,
    /// Rendered by an askama template, which escaped everything it was given.
    content: &'a str,
    frame: Frame<'a>,
    home: String,
    mark: &'static str,
    user_icon: &'static str,
    sign_out_icon: &'static str,
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
    render_in(site, status, title, content, Frame::Wide, false)
}

/// `content` in a card, for pages a person meets on the way somewhere (sign-in, sign-out,
/// errors).
pub fn render_card<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    content: &T,
) -> Response {
    render_in(site, status, title, content, Frame::Card, false)
}

/// [`render_card`] for a page that uses `latchkey.js` (passkey ceremonies, copy buttons).
pub fn render_card_with_script<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    content: &T,
) -> Response {
    render_in(site, status, title, content, Frame::Card, true)
}

/// `content` in the app shell (account and admin pages): a top bar with Latchkey's mark
/// (linking to the site's root), `shell`'s section links and the signed-in person, then the
/// content up to 960 px wide.
pub fn render_app<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    shell: &Shell<'_>,
    content: &T,
) -> Response {
    render_in(site, status, title, content, Frame::App(shell), false)
}

/// [`render_app`] for a page that uses `latchkey.js`.
pub fn render_app_with_script<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    shell: &Shell<'_>,
    content: &T,
) -> Response {
    render_in(site, status, title, content, Frame::App(shell), true)
}

fn render_in<T: Template>(
    site: &Site,
    status: StatusCode,
    title: &str,
    content: &T,
    shell: Frame<'_>,
    script: bool,
) -> Response {
    let page = content.render().and_then(|content| {
        Layout {
            title,
            stylesheet: site.path(STYLESHEET_PATH),
            favicon: site.path(FAVICON_PATH),
            script: script.then(|| site.path(SCRIPT_PATH)),
            content: &content,
            frame: shell,
            home: site.path("/"),
            mark: icons::MARK,
            user_icon: icons::USER,
            sign_out_icon: icons::SIGN_OUT,
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

/// The letter shown in place of an application's logo (`.app-initial`): the first letter or
/// digit of its name, upper-cased, or `?`.
pub fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".to_owned(), |c| c.to_uppercase().collect())
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

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[derive(Template)]
    #[template(source = "<h1>{{ heading }}</h1>", ext = "html")]
    struct Heading<'a> {
        heading: &'a str,
    }

    #[tokio::test]
    async fn the_app_shell_has_landmarks_nav_and_a_sign_out_form() {
        let site = Site::from_issuer("https://idp.example/x");
        let nav = [
            NavLink {
                label: "Account".into(),
                href: site.path("/account"),
                current: false,
            },
            NavLink {
                label: "Users & groups".into(),
                href: site.path("/admin/users"),
                current: true,
            },
        ];
        let shell = Shell {
            nav: &nav,
            person: Some("Alice <script>alert(1)</script>"),
            sign_out: Some(SignOut {
                action: "/x/logout",
                csrf_field: crate::TOKEN_FIELD,
                csrf_token: "tok\"en",
            }),
        };
        let resp = render_app(
            &site,
            StatusCode::OK,
            "Users",
            &shell,
            &Heading { heading: "Users" },
        );
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let html = body(resp).await;
        assert!(html.contains("<body class=\"app-shell\">"), "{html}");
        assert!(html.contains("<a class=\"skip\" href=\"#main\">"), "{html}");
        assert!(html.contains("<header class=\"topbar\">"), "{html}");
        assert!(html.contains("<nav aria-label=\"Sections\">"), "{html}");
        assert!(html.contains("<main id=\"main\" class=\"page\">\n<h1>Users</h1>"));
        assert!(html.contains("<a class=\"brand\" href=\"/x/\">"), "{html}");
        assert!(
            html.contains(
                "<a href=\"/x/admin/users\" aria-current=\"page\">Users &#38; groups</a>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"/x/account\">Account</a>"),
            "{html}"
        );
        assert_eq!(html.matches("aria-current").count(), 1);
        assert!(
            html.contains(
                "<form method=\"post\" action=\"/x/logout\"><input type=\"hidden\" name=\"csrf_token\" value=\"tok&#34;en\">"
            ),
            "{html}"
        );
        assert!(html.contains("Alice &#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(!html.contains("<script"), "no script unless asked: {html}");
        assert!(html.contains("href=\"/x/assets/latchkey.css\""));
    }

    #[tokio::test]
    async fn an_empty_shell_is_just_the_mark() {
        let site = Site::from_issuer("https://idp.example");
        let html = body(render_app(
            &site,
            StatusCode::OK,
            "Setup",
            &Shell::default(),
            &Heading { heading: "Setup" },
        ))
        .await;
        assert!(html.contains("<a class=\"brand\" href=\"/\">"), "{html}");
        assert!(!html.contains("<nav") && !html.contains("<form") && !html.contains("who"));
    }

    #[tokio::test]
    async fn the_script_is_loaded_only_when_asked() {
        let site = Site::from_issuer("https://idp.example/x");
        let content = Heading { heading: "Sign in" };
        let tag = "<script src=\"/x/assets/latchkey.js\" defer></script>";
        let card = body(render_card_with_script(
            &site,
            StatusCode::OK,
            "Sign in",
            &content,
        ))
        .await;
        assert!(card.contains(tag), "{card}");
        assert_eq!(card.matches("<script").count(), 1);
        assert!(card.contains("<body class=\"person\">"));
        assert!(card.contains("<header class=\"brand\">"));
        assert!(card.contains("<main id=\"main\" class=\"card\">"));
        let app = body(render_app_with_script(
            &site,
            StatusCode::OK,
            "Passkeys",
            &Shell::default(),
            &content,
        ))
        .await;
        assert!(app.contains(tag), "{app}");
        let plain = body(render_card(&site, StatusCode::OK, "Sign in", &content)).await;
        assert!(!plain.contains("<script"), "{plain}");
        let wide = body(render(&site, StatusCode::OK, "Clients", &content)).await;
        assert!(!wide.contains("<script") && wide.contains("<body class=\"wide\">"));
    }

    #[test]
    fn initials() {
        assert_eq!(initial("grafana"), "G");
        assert_eq!(initial("  (beta) app"), "B");
        assert_eq!(initial("ärger"), "Ä");
        assert_eq!(initial("---"), "?");
        assert_eq!(initial(""), "?");
    }
}
