//! Renders the component gallery: every fragment under `e2e/fixtures/gallery/` inside the
//! shell its name asks for (`card-*`: the person-facing card, `app-*`: the app shell, `wide-*`:
//! the plain wide layout of `render`), plus
//! the real `message_page` and `form_page`, written with the stylesheet, the script and the
//! icons to `target/ui-gallery/` for `e2e/ui_gallery.mjs` to serve and photograph.
//!
//! `cargo run -p latchkey-web --example ui_gallery && node e2e/ui_gallery.mjs`
//!
//! In a fragment, `[[NAME]]` stands for `latchkey_web::icons::NAME`, and `[[ICONS]]` for all
//! of them with their names.

use std::path::{Path, PathBuf};

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_web::{
    FormPage, NavLink, Shell, SignOut, Site, TOKEN_FIELD, form_page, icons, message_page, render,
    render_app_with_script, render_card_with_script,
};

#[derive(Template)]
#[template(source = "{{ html|safe }}", ext = "html")]
struct Fragment {
    html: String,
}

async fn write(dir: &Path, name: &str, resp: Response) {
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("a rendered page");
    std::fs::write(dir.join(format!("{name}.html")), body).expect("writing the gallery");
}

fn with_icons(mut html: String) -> String {
    let all: String = icons::ALL
        .iter()
        .map(|(name, svg)| format!(r#"<span class="badge muted">{svg}{name}</span>"#))
        .collect();
    html = html.replace("[[ICONS]]", &all);
    for (name, svg) in icons::ALL {
        html = html.replace(&format!("[[{name}]]"), svg);
    }
    assert!(!html.contains("[["), "an unknown icon in {html}");
    html
}

fn title(html: &str) -> String {
    html.split_once("<h1>")
        .and_then(|(_, rest)| rest.split_once("</h1>"))
        .map_or("Gallery", |(t, _)| t)
        .to_owned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = root.join("e2e/fixtures/gallery");
    let out = root.join("target/ui-gallery");
    std::fs::create_dir_all(out.join("assets")).expect("target/ui-gallery");
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for asset in ["latchkey.css", "latchkey.js", "favicon.svg"] {
        std::fs::copy(
            crate_dir.join("assets").join(asset),
            out.join("assets").join(asset),
        )
        .expect("copying an asset");
    }
    std::fs::copy(root.join("e2e/fixtures/logo.svg"), out.join("logo.svg")).expect("logo");

    let site = Site::from_issuer("http://localhost");
    let sections = [
        ("Account", "/app-passkeys.html"),
        ("Applications", "/app-clients-empty.html"),
        ("Users", "/app-secret.html"),
        ("Groups", "/app-components.html"),
    ];
    let mut names = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("e2e/fixtures/gallery")
        .map(|e| e.expect("a fixture").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let html = with_icons(std::fs::read_to_string(&path).expect("a fixture"));
        let title = title(&html);
        let fragment = Fragment { html };
        let resp = if name.starts_with("app-") {
            let nav: Vec<NavLink> = sections
                .iter()
                .map(|(label, href)| NavLink {
                    label: (*label).into(),
                    href: (*href).into(),
                    current: href.trim_start_matches('/').trim_end_matches(".html") == name,
                })
                .collect();
            let shell = Shell {
                nav: &nav,
                person: Some("Alice Liddell"),
                sign_out: Some(SignOut {
                    action: "/logout",
                    csrf_field: TOKEN_FIELD,
                    csrf_token: "gallery",
                }),
            };
            render_app_with_script(&site, StatusCode::OK, &title, &shell, &fragment)
        } else if name.starts_with("wide-") {
            render(&site, StatusCode::OK, &title, &fragment)
        } else {
            render_card_with_script(&site, StatusCode::OK, &title, &fragment)
        };
        write(&out, &name, resp).await;
        names.push(name);
    }

    // The pages the engine shows today, unchanged.
    write(
        &out,
        "card-message",
        message_page(
            &site,
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "The application that sent you here is not registered with this server.",
            Some("/"),
        ),
    )
    .await;
    let confirm = FormPage {
        title: "Sign out?",
        message: Some("You will be signed out of Latchkey and of the applications that asked."),
        action: "/end-session",
        fields: &[("confirm", "yes")],
        button: "Sign out",
    };
    write(
        &out,
        "card-form",
        form_page(&site, StatusCode::OK, &confirm),
    )
    .await;
    names.extend(["card-message".into(), "card-form".into()]);

    std::fs::write(out.join("pages.json"), format!("{names:?}")).expect("pages.json");
    println!("{}", out.display());
}
