//! The admin pages' templates (under `templates/admin/`) and the values they show.

use askama::Template;
use latchkey_store::Client;

use super::input::Draft;

/// What every admin page shows around its content.
pub(crate) struct Chrome {
    /// The issuer's path prefix, for links.
    pub base: String,
    pub login: String,
    /// For the page's forms.
    pub csrf: String,
}

pub(crate) struct ClientRow {
    pub id: String,
    pub display_name: String,
    pub kind: &'static str,
    pub public: bool,
    pub redirect_uris: Vec<String>,
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> ClientRow {
        ClientRow {
            id: c.id.as_str().to_owned(),
            display_name: if c.name.trim().is_empty() {
                "(unnamed)".to_owned()
            } else {
                c.name.clone()
            },
            kind: if c.public { "public" } else { "confidential" },
            public: c.public,
            redirect_uris: c.redirect_uris.clone(),
        }
    }
}

pub(crate) struct Endpoint {
    pub label: &'static str,
    pub url: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub(crate) struct Overview {
    pub chrome: Chrome,
    pub endpoints: Vec<Endpoint>,
    pub clients: Vec<ClientRow>,
}

#[derive(Template)]
#[template(path = "admin/client_new.html")]
pub(crate) struct ClientNew {
    pub chrome: Chrome,
    pub draft: Draft,
    pub error: Option<String>,
}

/// A client with its secret in clear: after creation, or after a new secret.
#[derive(Template)]
#[template(path = "admin/client_shown.html")]
pub(crate) struct ClientShown {
    pub chrome: Chrome,
    pub heading: &'static str,
    pub client: ClientRow,
    pub secret: Option<String>,
    pub issuer: String,
}

#[derive(Template)]
#[template(path = "admin/client_edit.html")]
pub(crate) struct ClientEdit {
    pub chrome: Chrome,
    pub client: ClientRow,
    pub draft: Draft,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/client_delete.html")]
pub(crate) struct ClientDelete {
    pub chrome: Chrome,
    pub client: ClientRow,
}
