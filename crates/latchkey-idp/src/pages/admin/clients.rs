//! `/admin/clients`: the applications people sign in to. List, create (the secret is shown
//! once), edit, regenerate the secret and delete (each after a page that asks).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use latchkey_oidc::clients::{ClientError, NewClient, create_client, rotate_secret};
use latchkey_oidc::jose::Alg;
use latchkey_oidc::redirect::validate_registration;
use latchkey_store::{Client, ClientId, unix_now};
use latchkey_web::Form;
use serde_json::{Map, Value, json};

use super::{
    Admin, Ask, Page, Posted, Section, csrf, failed, not_found, render_page, text, ticked,
};
use crate::client_policy::{ALLOWED_GROUPS, ClientPolicy, LAUNCH_URL, SKIP_CONSENT, display_name};
use crate::pages::{AppView, internal, see_other};
use crate::session::Person;
use crate::state::Idp;

const MAX_REDIRECT_URIS: usize = 20;
const MAX_URL_LEN: usize = 2000;

pub(super) fn routes() -> Router<Arc<Idp>> {
    Router::new()
        .route("/admin/clients", get(get_clients).post(post_create))
        .route("/admin/clients/new", get(get_new))
        .route("/admin/clients/{id}", get(get_client).post(post_update))
        // `secret` (regenerate) or `delete`, each after a page that asks.
        .route(
            "/admin/clients/{id}/{action}",
            get(get_confirm).post(post_confirmed),
        )
}

pub(crate) struct ClientRow {
    pub id: String,
    pub app: AppView,
    pub public: bool,
    pub groups: String,
    pub alg: String,
}

impl ClientRow {
    fn of(idp: &Idp, c: &Client) -> ClientRow {
        let policy = ClientPolicy::of(c);
        ClientRow {
            id: c.id.0.clone(),
            app: idp.app_view(c),
            public: c.public,
            groups: policy.allowed_groups.join(", "),
            alg: c.id_token_alg.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct Clients {
    base: String,
    clients: Vec<ClientRow>,
}

async fn get_clients(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    let clients = idp
        .store
        .list_clients(idp.issuer_id())
        .await
        .map_err(failed(&idp))?;
    let content = Clients {
        base: idp.site().base.clone(),
        clients: clients.iter().map(|c| ClientRow::of(&idp, c)).collect(),
    };
    Ok(render_page(
        &idp,
        &person,
        Section::Clients,
        StatusCode::OK,
        "Clients",
        &content,
    ))
}

/// The client form as typed.
pub(crate) struct Draft {
    pub name: String,
    /// One per line.
    pub redirect_uris: String,
    pub public: bool,
    pub allowed_groups: Vec<String>,
    pub skip_consent: bool,
    pub launch_url: String,
    /// Where the client is told that a session ended (back-channel logout).
    pub logout_uri: String,
    pub alg: String,
    /// Set when the client has a logo (not part of the form: uploaded on its own).
    pub logo_version: Option<i64>,
}

impl Default for Draft {
    fn default() -> Draft {
        Draft {
            name: String::new(),
            redirect_uris: String::new(),
            public: false,
            allowed_groups: Vec::new(),
            skip_consent: false,
            launch_url: String::new(),
            logout_uri: String::new(),
            alg: Alg::RS256.as_str().into(),
            logo_version: None,
        }
    }
}

/// A draft that checked out.
#[derive(Debug)]
struct Checked {
    name: String,
    redirect_uris: Vec<String>,
    alg: Alg,
}

impl Draft {
    fn of(c: &Client) -> Draft {
        let policy = ClientPolicy::of(c);
        Draft {
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.join("\n"),
            public: c.public,
            allowed_groups: policy.allowed_groups,
            skip_consent: policy.skip_consent,
            launch_url: policy.launch_url.unwrap_or_default(),
            logout_uri: latchkey_oidc::backchannel::logout_uri(c)
                .unwrap_or_default()
                .to_owned(),
            alg: c.id_token_alg.clone(),
            logo_version: policy.logo_version,
        }
    }

    /// `public` comes from the form only where it may be chosen (creation).
    fn from_form(form: &Form, public: bool) -> Draft {
        Draft {
            name: text(form, "name"),
            redirect_uris: form.get("redirect_uris").unwrap_or_default().to_owned(),
            public,
            allowed_groups: form
                .get_all("allowed_group")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            skip_consent: ticked(form, "skip_consent"),
            launch_url: text(form, "launch_url"),
            logout_uri: text(form, "backchannel_logout_uri"),
            alg: text(form, "id_token_alg"),
            logo_version: None,
        }
    }

    fn check(&self) -> Result<Checked, String> {
        if self.name.is_empty()
            || self.name.chars().count() > 100
            || self.name.chars().any(char::is_control)
        {
            return Err("Give the client a name of 1 to 100 characters.".into());
        }
        let mut uris: Vec<String> = Vec::new();
        for uri in self.redirect_uris.lines().map(str::trim) {
            if uri.is_empty() || uris.iter().any(|u| u == uri) {
                continue;
            }
            if uri.len() > MAX_URL_LEN {
                return Err(format!(
                    "A redirect URI is longer than {MAX_URL_LEN} characters."
                ));
            }
            validate_registration(uri).map_err(|e| format!("Redirect URI {uri} refused: {e}."))?;
            uris.push(uri.to_owned());
        }
        match uris.len() {
            0 => return Err("Give at least one redirect URI.".into()),
            n if n > MAX_REDIRECT_URIS => {
                return Err(format!("Give at most {MAX_REDIRECT_URIS} redirect URIs."));
            }
            _ => {}
        }
        if !self.launch_url.is_empty() {
            let web = url::Url::parse(&self.launch_url)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !web || self.launch_url.len() > MAX_URL_LEN {
                return Err("The launch URL must be a web address (https://…).".into());
            }
        }
        if !self.logout_uri.is_empty() {
            let web = url::Url::parse(&self.logout_uri)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
            if !web || self.logout_uri.len() > MAX_URL_LEN {
                return Err(
                    "The back-channel logout URI must be a web address (https://…).".into(),
                );
            }
        }
        let alg: Alg = self
            .alg
            .parse()
            .map_err(|_| "Choose an ID token algorithm: RS256, ES256 or EdDSA.".to_owned())?;
        Ok(Checked {
            name: self.name.clone(),
            redirect_uris: uris,
            alg,
        })
    }

    /// The idp's settings in the client's metadata, other keys kept. Only `known` groups
    /// may be allowed (a made-up name in the form is ignored).
    fn metadata(&self, mut meta: Map<String, Value>, known: &[String]) -> Value {
        let groups: Vec<&String> = self
            .allowed_groups
            .iter()
            .filter(|g| known.iter().any(|k| k.eq_ignore_ascii_case(g)))
            .collect();
        if groups.is_empty() {
            meta.remove(ALLOWED_GROUPS);
        } else {
            meta.insert(ALLOWED_GROUPS.into(), json!(groups));
        }
        meta.insert(SKIP_CONSENT.into(), json!(self.skip_consent));
        if self.launch_url.is_empty() {
            meta.remove(LAUNCH_URL);
        } else {
            meta.insert(LAUNCH_URL.into(), json!(self.launch_url));
        }
        let logout = latchkey_oidc::backchannel::BACKCHANNEL_LOGOUT_URI;
        if self.logout_uri.is_empty() {
            meta.remove(logout);
        } else {
            meta.insert(logout.into(), json!(self.logout_uri));
        }
        Value::Object(meta)
    }
}

pub(crate) struct GroupBox {
    pub name: String,
    pub friendly_name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "admin/client_form.html")]
struct ClientForm {
    base: String,
    csrf: String,
    /// `None` on the creation form.
    id: Option<String>,
    /// Stands in for a missing logo.
    initial: String,
    draft: Draft,
    groups: Vec<GroupBox>,
    algs: [&'static str; 3],
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn form_page(
    idp: &Idp,
    person: &Person,
    id: Option<&ClientId>,
    draft: Draft,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Page {
    let groups = idp.store.list_groups().await.map_err(failed(idp))?;
    let mut boxes: Vec<GroupBox> = groups
        .into_iter()
        .map(|g| GroupBox {
            checked: draft
                .allowed_groups
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&g.name)),
            name: g.name,
            friendly_name: g.friendly_name,
        })
        .collect();
    // Groups a client names that do not exist stay visible (and ticked): saving keeps them
    // unless the administrator unticks them.
    for missing in &draft.allowed_groups {
        if !boxes.iter().any(|b| b.name.eq_ignore_ascii_case(missing)) {
            boxes.push(GroupBox {
                name: missing.clone(),
                friendly_name: format!("{missing} (no such group)"),
                checked: true,
            });
        }
    }
    let title = match id {
        Some(_) if !draft.name.is_empty() => draft.name.clone(),
        Some(_) => "Client".to_owned(),
        None => "Add a client".to_owned(),
    };
    let status = match error {
        Some(_) => StatusCode::BAD_REQUEST,
        None => StatusCode::OK,
    };
    let content = ClientForm {
        base: idp.site().base.clone(),
        csrf: csrf(idp, person),
        id: id.map(|i| i.0.clone()),
        initial: latchkey_web::page::initial(&draft.name),
        draft,
        groups: boxes,
        algs: Alg::ALL.map(Alg::as_str),
        error,
        notice,
    };
    Ok(render_page(
        idp,
        person,
        Section::Clients,
        status,
        &title,
        &content,
    ))
}

async fn get_new(State(idp): State<Arc<Idp>>, Admin(person): Admin) -> Page {
    form_page(&idp, &person, None, Draft::default(), None, None).await
}

/// The names of the directory's groups (a client may admit only these).
async fn group_names(idp: &Idp) -> Result<Vec<String>, Response> {
    let groups = idp.store.list_groups().await.map_err(failed(idp))?;
    Ok(groups.into_iter().map(|g| g.name).collect())
}

async fn post_create(State(idp): State<Arc<Idp>>, Posted { person, form, by }: Posted) -> Page {
    let public = match form.get("client_type") {
        Some("public") => Some(true),
        Some("confidential") => Some(false),
        _ => None,
    };
    let draft = Draft::from_form(&form, public.unwrap_or(false));
    let checked = match (public, draft.check()) {
        (Some(_), Ok(c)) => c,
        (None, _) => {
            let error = "Choose whether the client is confidential or public.".to_owned();
            return form_page(&idp, &person, None, draft, Some(error), None).await;
        }
        (_, Err(error)) => return form_page(&idp, &person, None, draft, Some(error), None).await,
    };
    let known = group_names(&idp).await?;
    let new = NewClient {
        name: checked.name,
        redirect_uris: checked.redirect_uris,
        post_logout_redirect_uris: Vec::new(),
        public: draft.public,
        id_token_alg: checked.alg,
        metadata: draft.metadata(Map::new(), &known),
    };
    let created = create_client(&idp.store, idp.issuer_id(), new)
        .await
        .map_err(|e| internal(idp.site(), e))?;
    let c = &created.client;
    let detail = json!({"name": c.name, "public": c.public, "redirect_uris": c.redirect_uris});
    by.record(&idp, "CLIENT_CREATED", Some(&c.id), detail).await;
    Ok(shown(
        &idp,
        &person,
        "Client created",
        &created.client,
        created.secret,
    ))
}

#[derive(Template)]
#[template(path = "admin/client_secret.html")]
struct Shown {
    base: String,
    heading: &'static str,
    id: String,
    app: AppView,
    secret: Option<String>,
    issuer: String,
    copy: &'static str,
}

/// The client's id and, once, its secret: after creation or regeneration.
fn shown(
    idp: &Idp,
    person: &Person,
    heading: &'static str,
    client: &Client,
    secret: Option<String>,
) -> Response {
    let content = Shown {
        base: idp.site().base.clone(),
        heading,
        id: client.id.0.clone(),
        app: idp.app_view(client),
        secret,
        issuer: idp.issuer().to_owned(),
        copy: latchkey_web::icons::COPY,
    };
    render_page(
        idp,
        person,
        Section::Clients,
        StatusCode::OK,
        heading,
        &content,
    )
}

pub(super) async fn find(idp: &Idp, id: &str) -> Result<Client, Response> {
    match idp
        .store
        .find_client(idp.issuer_id(), &ClientId::from(id))
        .await
    {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(not_found(idp, "client")),
        Err(e) => Err(failed(idp)(e)),
    }
}

async fn get_client(
    State(idp): State<Arc<Idp>>,
    Admin(person): Admin,
    Path(id): Path<String>,
) -> Page {
    let client = find(&idp, &id).await?;
    edit_page(&idp, &person, &client, None).await
}

/// The form of a stored client (`notice`: it was just saved).
async fn edit_page(idp: &Idp, person: &Person, c: &Client, notice: Option<&'static str>) -> Page {
    form_page(idp, person, Some(&c.id), Draft::of(c), None, notice).await
}

async fn post_update(
    State(idp): State<Arc<Idp>>,
    Path(id): Path<String>,
    Posted { person, form, by }: Posted,
) -> Page {
    let mut client = find(&idp, &id).await?;
    let mut draft = Draft::from_form(&form, client.public);
    draft.logo_version = ClientPolicy::of(&client).logo_version;
    let checked = match draft.check() {
        Ok(c) => c,
        Err(error) => {
            return form_page(&idp, &person, Some(&client.id), draft, Some(error), None).await;
        }
    };
    // A group the client names that does not exist (yet) is kept while it stays ticked:
    // dropping it would open the client to everyone.
    let mut known = group_names(&idp).await?;
    known.extend(ClientPolicy::of(&client).allowed_groups);
    let meta = match client.metadata.take() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    client.metadata = draft.metadata(meta, &known);
    // Registration metadata is kept as given for the registration response; keep it true.
    if let Some(meta) = client.metadata.as_object_mut() {
        for (key, value) in [
            ("client_name", json!(checked.name)),
            ("redirect_uris", json!(checked.redirect_uris)),
        ] {
            if meta.contains_key(key) {
                meta.insert(key.into(), value);
            }
        }
    }
    client.name = checked.name;
    client.redirect_uris = checked.redirect_uris;
    client.id_token_alg = checked.alg.as_str().to_owned();
    client.updated_at = unix_now();
    if !idp
        .store
        .update_client(&client)
        .await
        .map_err(failed(&idp))?
    {
        return Err(not_found(&idp, "client"));
    }
    let detail = json!({"name": client.name, "redirect_uris": client.redirect_uris, "metadata": client.metadata});
    by.record(&idp, "CLIENT_UPDATED", Some(&client.id), detail)
        .await;
    let saved = "Saved. Applications see the change within a few seconds.";
    edit_page(&idp, &person, &client, Some(saved)).await
}

/// What a page that asks is about: `delete` or `secret` (regenerate it).
fn deleting(action: &str) -> Option<bool> {
    match action {
        "delete" => Some(true),
        "secret" => Some(false),
        _ => None,
    }
}

/// The page that asks before deleting the client or regenerating its secret.
async fn get_confirm(
    State(idp): State<Arc<Idp>>,
    Admin(person): Admin,
    Path((id, action)): Path<(String, String)>,
) -> Page {
    let delete = deleting(&action).ok_or_else(|| not_found(&idp, "page"))?;
    let client = find(&idp, &id).await?;
    if client.public && !delete {
        return Err(not_found(&idp, "client secret"));
    }
    let name = display_name(&client);
    let ask = match delete {
        true => Ask {
            heading: format!("Delete “{name}”?"),
            message: format!(
                "People will no longer be able to sign in to {name} with Latchkey. Every token \
                 it holds stops working at once, and the consents people gave it are \
                 forgotten. This cannot be undone."
            ),
            button: "Delete client",
        },
        false => Ask {
            heading: format!("Regenerate the secret of “{name}”?"),
            message: format!(
                "The current secret stops working at once: {name} cannot sign anyone in until \
                 you give it the new one."
            ),
            button: "Regenerate secret",
        },
    };
    let back = format!("/admin/clients/{}", client.id);
    Ok(ask.render(&idp, &person, Section::Clients, &back))
}

/// The confirmed action: the client deleted (its grants revoked with it), or its new secret
/// shown once.
async fn post_confirmed(
    State(idp): State<Arc<Idp>>,
    Path((id, action)): Path<(String, String)>,
    Posted { person, by, .. }: Posted,
) -> Page {
    let client = find(&idp, &id).await?;
    if deleting(&action).ok_or_else(|| not_found(&idp, "page"))? {
        let deleted = idp
            .store
            .delete_client(idp.issuer_id(), &client.id, unix_now())
            .await
            .map_err(failed(&idp))?;
        if !deleted {
            return Err(not_found(&idp, "client"));
        }
        let detail = json!({"name": client.name});
        by.record(&idp, "CLIENT_DELETED", Some(&client.id), detail)
            .await;
        return Ok(see_other(&idp.site().path("/admin/clients")));
    }
    let secret = match rotate_secret(&idp.store, idp.issuer_id(), &client.id).await {
        Ok(secret) => secret,
        Err(ClientError::Public) => return Err(not_found(&idp, "client secret")),
        Err(ClientError::NotFound(_)) => return Err(not_found(&idp, "client")),
        Err(e) => return Err(internal(idp.site(), e)),
    };
    by.record(&idp, "CLIENT_SECRET_ROTATED", Some(&client.id), json!({}))
        .await;
    let heading = "New client secret";
    Ok(shown(&idp, &person, heading, &client, Some(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(groups: &[&str]) -> Draft {
        Draft {
            name: "Wiki".into(),
            redirect_uris: "https://wiki.example/cb\n\n https://wiki.example/cb ".into(),
            allowed_groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Draft::default()
        }
    }

    #[test]
    fn allowed_groups_are_known_ones_and_other_metadata_stays() {
        let known = vec!["staff".to_owned(), "admins".to_owned()];
        let mut meta = Map::new();
        meta.insert("client_uri".into(), json!("https://wiki.example"));
        meta.insert(LAUNCH_URL.into(), json!("https://old.example"));
        let d = draft(&["Staff", "made-up"]);
        let m = d.metadata(meta, &known);
        assert_eq!(m[ALLOWED_GROUPS], json!(["Staff"]));
        assert_eq!(m[SKIP_CONSENT], json!(false));
        assert_eq!(m["client_uri"], "https://wiki.example");
        assert!(
            m.get(LAUNCH_URL).is_none(),
            "an emptied launch URL is removed"
        );
        let open = draft(&[]).metadata(Map::new(), &known);
        assert!(open.get(ALLOWED_GROUPS).is_none());
        let mut told = draft(&[]);
        told.logout_uri = "https://wiki.example/logout".into();
        let m = told.metadata(Map::new(), &known);
        assert_eq!(m["backchannel_logout_uri"], "https://wiki.example/logout");
        let mut bad = draft(&[]);
        bad.logout_uri = "javascript:alert(1)".into();
        assert!(bad.check().unwrap_err().contains("back-channel"));
    }

    #[test]
    fn drafts_are_checked() {
        let ok = draft(&[]).check().unwrap();
        assert_eq!(ok.redirect_uris, ["https://wiki.example/cb"]);
        assert_eq!(ok.alg, Alg::RS256);
        let mut bad = draft(&[]);
        bad.launch_url = "javascript:alert(1)".into();
        assert!(bad.check().unwrap_err().contains("launch URL"));
        let mut bad = draft(&[]);
        bad.alg = "HS256".into();
        assert!(bad.check().is_err());
        let mut bad = draft(&[]);
        bad.redirect_uris = "https://wiki.example/cb#x".into();
        assert!(bad.check().unwrap_err().contains("refused"));
        let mut bad = draft(&[]);
        bad.name = String::new();
        assert!(bad.check().is_err());
    }
}
