//! Pages that are one form of hidden fields and a button: a confirmation the person posts
//! back to us, or an answer posted onward to another site by a tiny inline script (OAuth
//! `response_mode=form_post`), with a button in `<noscript>` for browsers without script.

use std::sync::LazyLock;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::page::{Site, render_card};

/// The only script the auto-submit page runs, allowed by its hash.
const AUTO_SUBMIT_SCRIPT: &str = "document.forms[0].submit()";

static AUTO_SUBMIT_HASH: LazyLock<String> = LazyLock::new(|| {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, AUTO_SUBMIT_SCRIPT.as_bytes());
    format!("'sha256-{}'", STANDARD.encode(digest.as_ref()))
});

/// What a form page says and posts.
#[derive(Debug, Clone, Copy)]
pub struct FormPage<'a> {
    pub title: &'a str,
    pub message: Option<&'a str>,
    /// Where the form posts: a path of ours, or another site's URL.
    pub action: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
    /// What the button says it does ("Sign out", "Continue").
    pub button: &'a str,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormTemplate<'a> {
    page: &'a FormPage<'a>,
    auto_submit: bool,
    script: &'static str,
}

/// A form the person submits (a confirmation), in a card.
pub fn form_page(site: &Site, status: StatusCode, page: &FormPage<'_>) -> Response {
    let content = FormTemplate {
        page,
        auto_submit: false,
        script: "",
    };
    render_card(site, status, page.title, &content)
}

/// A form the browser submits at once to `page.action`. The page carries its own
/// Content-Security-Policy: the stylesheet and icon from our origin, only this page's script (by
/// hash), and form submission only to the action's origin.
pub fn auto_submit_page(site: &Site, page: &FormPage<'_>) -> Response {
    let content = FormTemplate {
        page,
        auto_submit: true,
        script: AUTO_SUBMIT_SCRIPT,
    };
    let mut resp = render_card(site, StatusCode::OK, page.title, &content);
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src {}; form-action {}; \
         frame-ancestors 'none'; base-uri 'none'",
        *AUTO_SUBMIT_HASH,
        form_action_source(page.action)
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The CSP source for a form's target: its origin, or `*` for a URL without one (a custom
/// scheme of a native app).
fn form_action_source(action: &str) -> String {
    url::Url::parse(action)
        .ok()
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
        .unwrap_or_else(|| "*".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn auto_submit_posts_onward_under_its_own_policy() {
        let site = Site::from_issuer("https://idp.example");
        let page = FormPage {
            title: "Continue",
            message: None,
            action: "https://rp.example/cb?x=1",
            fields: &[("code", "abc"), ("state", "\"><script>alert(1)</script>")],
            button: "Continue",
        };
        let resp = auto_submit_page(&site, &page);
        assert_eq!(resp.status(), StatusCode::OK);
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("form-action https://rp.example;"), "{csp}");
        assert!(csp.contains("style-src 'self'"), "{csp}");
        let html = body(resp).await;
        // The hash in the policy is the hash of the script on the page.
        let script = html
            .split("<script>")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next();
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, script.unwrap().as_bytes());
        assert!(
            csp.contains(&format!(
                "script-src 'sha256-{}';",
                STANDARD.encode(digest.as_ref())
            )),
            "{csp}"
        );
        assert!(
            html.contains("<form method=\"post\" action=\"https://rp.example/cb?x=1\">"),
            "{html}"
        );
        assert!(html.contains(&format!("<script>{AUTO_SUBMIT_SCRIPT}</script>")));
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(html.contains("<noscript><div class=\"actions\"><button type=\"submit\">Continue"));
        assert!(html.contains(
            "name=\"state\" value=\"&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""
        ));
    }

    #[tokio::test]
    async fn a_confirmation_has_no_script_and_keeps_the_site_policy() {
        let site = Site::from_issuer("https://idp.example/base");
        let page = FormPage {
            title: "Sign out?",
            message: Some("Sign out <now>?"),
            action: &site.path("/end-session"),
            fields: &[("confirm", "yes")],
            button: "Sign out",
        };
        let resp = form_page(&site, StatusCode::OK, &page);
        assert!(
            resp.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_none()
        );
        let html = body(resp).await;
        assert!(!html.contains("<script") && !html.contains("<noscript"));
        assert!(html.contains("<form method=\"post\" action=\"/base/end-session\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">"));
        assert!(html.contains("<p>Sign out &#60;now&#62;?</p>"), "{html}");
        assert!(html.contains("class=\"card\""));
    }

    #[test]
    fn form_action_is_the_origin() {
        assert_eq!(
            form_action_source("https://rp.example:8443/cb?x"),
            "https://rp.example:8443"
        );
        assert_eq!(form_action_source("com.example.app:/cb"), "*");
    }
}
