//! The client pages: list, create, edit, new secret, delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_oidc::clients::{NewClient, create_client, rotate_secret};
use latchkey_oidc::jose::Alg;
use latchkey_store::{Client, ClientId, NewAuditEvent, unix_now};
use latchkey_web::render;
use serde_json::{Value, json};

use super::AdminState;
use super::access::AdminUser;
use super::input::{Draft, client_type};
use super::views::{
    Chrome, ClientDelete, ClientEdit, ClientNew, ClientRow, ClientShown, Endpoint, Overview,
};

/// The issuer's URLs, then this issuer's clients.
pub(crate) async fn get_admin(State(s): State<AdminState>, user: AdminUser) -> Response {
    let clients = match s.provider.store.list_clients(s.provider.issuer_id()).await {
        Ok(c) => c,
        Err(e) => return s.internal(e),
    };
    let settings = &s.provider.settings;
    let endpoints = [
        ("Issuer", settings.issuer.clone()),
        (
            "Discovery",
            settings.endpoint("/.well-known/openid-configuration"),
        ),
        ("Authorization", settings.endpoint("/authorize")),
        ("Token", settings.endpoint("/token")),
        ("Userinfo", settings.endpoint("/userinfo")),
        ("JWKS", settings.endpoint("/.well-known/jwks.json")),
        ("Introspection", settings.endpoint("/introspect")),
        ("Revocation", settings.endpoint("/revoke")),
        ("End session", settings.endpoint("/end-session")),
    ]
    .into_iter()
    .map(|(label, url)| Endpoint { label, url })
    .collect();
    let page = Overview {
        chrome: s.chrome(&user),
        endpoints,
        clients: clients.iter().map(ClientRow::from).collect(),
    };
    render(&s.site, StatusCode::OK, "Clients", &page)
}

pub(crate) async fn get_client_new(State(s): State<AdminState>, user: AdminUser) -> Response {
    let page = ClientNew {
        chrome: s.chrome(&user),
        draft: Draft::default(),
        error: None,
    };
    render(&s.site, StatusCode::OK, "New client", &page)
}

/// Creates the client and shows its secret, once.
pub(crate) async fn post_client_create(
    State(s): State<AdminState>,
    user: AdminUser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match s.posted_form(&user, &headers, &body) {
        Ok(f) => f,
        Err(e) => return s.form_refused(&user, e),
    };
    let public = client_type(&form);
    let draft = Draft::from_form(&form, public.as_ref().is_ok_and(|p| *p));
    let valid = public.and_then(|_| draft.validate());
    let valid = match valid {
        Ok(v) => v,
        Err(error) => {
            let page = ClientNew {
                chrome: s.chrome(&user),
                draft,
                error: Some(error),
            };
            return render(&s.site, StatusCode::BAD_REQUEST, "New client", &page);
        }
    };
    let created = create_client(
        &s.provider.store,
        s.provider.issuer_id(),
        NewClient {
            name: valid.name,
            redirect_uris: valid.redirect_uris,
            post_logout_redirect_uris: Vec::new(),
            public: draft.public,
            // tsidp's only algorithm, and what clients expect by default.
            id_token_alg: Alg::RS256,
            metadata: json!({}),
        },
    )
    .await;
    let created = match created {
        Ok(c) => c,
        Err(e) => return s.internal(e),
    };
    let client = &created.client;
    s.audit(
        &user,
        "CLIENT_CREATED",
        &client.id,
        json!({"name": client.name, "public": client.public, "redirect_uris": client.redirect_uris}),
    )
    .await;
    tracing::info!(client = %client.id, by = %user.login, "admin UI: client created");
    s.shown(&user, "Client created", client, created.secret)
}

pub(crate) async fn get_client(
    State(s): State<AdminState>,
    user: AdminUser,
    Path(id): Path<String>,
) -> Response {
    let client = match s.find(&id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    s.edit_page(&user, &client, Draft::of(&client), None, None)
}

/// Saves the name and redirect URIs.
pub(crate) async fn post_client_update(
    State(s): State<AdminState>,
    user: AdminUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match s.posted_form(&user, &headers, &body) {
        Ok(f) => f,
        Err(e) => return s.form_refused(&user, e),
    };
    let mut client = match s.find(&id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let draft = Draft::from_form(&form, client.public);
    let valid = match draft.validate() {
        Ok(v) => v,
        Err(error) => return s.edit_page(&user, &client, draft, None, Some(error)),
    };
    client.name = valid.name;
    client.redirect_uris = valid.redirect_uris;
    client.updated_at = unix_now();
    // Registration metadata is kept as given for the registration response; keep it true.
    if let Some(meta) = client.metadata.as_object_mut() {
        if meta.contains_key("redirect_uris") {
            meta.insert("redirect_uris".into(), json!(client.redirect_uris));
        }
        if meta.contains_key("client_name") {
            meta.insert("client_name".into(), json!(client.name));
        }
    }
    match s.provider.store.update_client(&client).await {
        Ok(true) => {}
        Ok(false) => return s.not_found(),
        Err(e) => return s.internal(e),
    }
    s.provider.clients.evict(&client.id);
    s.audit(
        &user,
        "CLIENT_UPDATED",
        &client.id,
        json!({"name": client.name, "redirect_uris": client.redirect_uris}),
    )
    .await;
    tracing::info!(client = %client.id, by = %user.login, "admin UI: client updated");
    s.edit_page(&user, &client, Draft::of(&client), Some("Saved."), None)
}

/// Replaces a confidential client's secret and shows the new one, once.
pub(crate) async fn post_client_secret(
    State(s): State<AdminState>,
    user: AdminUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match s.posted_for_client(&user, &headers, &body, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    if client.public {
        return s.page_error(
            StatusCode::BAD_REQUEST,
            "No secret",
            "A public client has no secret to regenerate.",
        );
    }
    let secret = match rotate_secret(&s.provider.store, s.provider.issuer_id(), &client.id).await {
        Ok(secret) => secret,
        Err(e) => return s.internal(e),
    };
    s.provider.clients.evict(&client.id);
    s.audit(&user, "CLIENT_SECRET_ROTATED", &client.id, json!({}))
        .await;
    tracing::info!(client = %client.id, by = %user.login, "admin UI: client secret regenerated");
    s.shown(&user, "New secret", &client, Some(secret))
}

/// Asks before deleting.
pub(crate) async fn get_client_delete(
    State(s): State<AdminState>,
    user: AdminUser,
    Path(id): Path<String>,
) -> Response {
    let client = match s.find(&id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let page = ClientDelete {
        chrome: s.chrome(&user),
        client: ClientRow::from(&client),
    };
    render(&s.site, StatusCode::OK, "Delete client", &page)
}

/// Deletes the client; its grants and tokens are revoked with it.
pub(crate) async fn post_client_delete(
    State(s): State<AdminState>,
    user: AdminUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match s.posted_for_client(&user, &headers, &body, &id).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match s.provider.delete_client(&client.id).await {
        Ok(true) => {}
        Ok(false) => return s.not_found(),
        Err(e) => return s.internal(e),
    }
    s.audit(
        &user,
        "CLIENT_DELETED",
        &client.id,
        json!({"name": client.name}),
    )
    .await;
    tracing::info!(client = %client.id, by = %user.login, "admin UI: client deleted");
    latchkey_web::message_page(
        &s.site,
        StatusCode::OK,
        "Client deleted",
        &format!(
            "{} ({}) was deleted and its tokens revoked.",
            ClientRow::from(&client).display_name,
            client.id
        ),
        Some(&s.site.path("/")),
    )
}

impl AdminState {
    /// A client with its secret, shown once (after creation or regeneration).
    fn shown(
        &self,
        user: &AdminUser,
        heading: &'static str,
        client: &Client,
        secret: Option<String>,
    ) -> Response {
        let page = ClientShown {
            chrome: self.chrome(user),
            heading,
            client: ClientRow::from(client),
            secret,
            issuer: self.provider.issuer().to_owned(),
        };
        render(&self.site, StatusCode::OK, heading, &page)
    }

    fn chrome(&self, user: &AdminUser) -> Chrome {
        Chrome {
            base: self.site.base.clone(),
            login: user.login.clone(),
            csrf: self.csrf_token(user),
        }
    }

    /// The client as stored now (not the engine's short-lived cache).
    /// The client a checked form post (same origin, CSRF token) is about.
    async fn posted_for_client(
        &self,
        user: &AdminUser,
        headers: &HeaderMap,
        body: &Bytes,
        id: &str,
    ) -> Result<Client, Response> {
        if let Err(e) = self.posted_form(user, headers, body) {
            return Err(self.form_refused(user, e));
        }
        self.find(id).await
    }

    async fn find(&self, id: &str) -> Result<Client, Response> {
        match self
            .provider
            .store
            .find_client(self.provider.issuer_id(), &ClientId::from(id))
            .await
        {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(self.not_found()),
            Err(e) => Err(self.internal(e)),
        }
    }

    fn not_found(&self) -> Response {
        self.page_error(
            StatusCode::NOT_FOUND,
            "No such client",
            "This issuer has no client with that ID (it may have been deleted).",
        )
    }

    fn edit_page(
        &self,
        user: &AdminUser,
        client: &Client,
        draft: Draft,
        notice: Option<&'static str>,
        error: Option<String>,
    ) -> Response {
        let status = if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let row = ClientRow::from(client);
        let title = row.display_name.clone();
        let page = ClientEdit {
            chrome: self.chrome(user),
            client: row,
            draft,
            notice,
            error,
        };
        render(&self.site, status, &title, &page)
    }

    /// Records who changed which client; a failure to record is logged, never fatal.
    async fn audit(&self, user: &AdminUser, kind: &str, client: &ClientId, mut detail: Value) {
        detail["via"] = json!("admin_ui");
        detail["login"] = json!(user.login);
        let ip = user.addr.ip().to_string();
        let subject = latchkey_store::Subject(user.subject.clone());
        let event = NewAuditEvent {
            issuer: self.provider.issuer_id(),
            kind,
            subject: Some(&subject),
            client_id: Some(client),
            ip: Some(&ip),
            detail,
            created_at: unix_now(),
        };
        if let Err(e) = self.provider.store.create_audit_event(&event).await {
            tracing::error!(error = %e, kind, "recording audit event failed");
        }
    }
}
