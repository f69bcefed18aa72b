//! Arriving by link: `/setup/TOKEN` makes the first administrator, `/lc/TOKEN` signs a person
//! in once. Opening a link shows what it will do; only the button (a same-origin post) uses
//! it, so a chat app's link preview cannot spend it.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_oidc::crypto::sha256_hex;
use latchkey_store::{LinkPurpose, OneTimeLink, StoreError, User, unix_now};
use latchkey_web::FormRules;

use super::{Peer, forbidden_post, internal, peer_addr, problem, see_other};
use crate::directory::{NewUser, new_user};
use crate::limits::Action;
use crate::session::AMR_LINK;
use crate::state::Idp;

#[derive(Template)]
#[template(path = "setup.html")]
struct Setup<'a> {
    action: String,
    error: Option<String>,
    username: &'a str,
    email: &'a str,
    first_name: &'a str,
    last_name: &'a str,
}

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    action: String,
    name: String,
    username: String,
}

fn spent(idp: &Idp) -> Response {
    problem(
        idp.site(),
        StatusCode::NOT_FOUND,
        "This link no longer works",
        "It was used already, or it expired. Links like this work once and for a short time: ask \
         your administrator for a new one.",
    )
}

fn set_up_already(idp: &Idp) -> Response {
    problem(
        idp.site(),
        StatusCode::CONFLICT,
        "Latchkey is set up already",
        "Someone has created the first administrator with a setup link. Sign in with your \
         passkey, or ask that administrator for a sign-in link.",
    )
}

fn too_many(idp: &Idp, wait: std::time::Duration) -> Response {
    let mut resp = problem(
        idp.site(),
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Wait a minute, then try again.",
    );
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        (wait.as_secs() + 1).to_string().parse().expect("digits"),
    );
    resp
}

/// A link is spent only by a post from our own page, within the address's rate limit: the
/// answer that refuses it otherwise.
fn refuse_post(idp: &Idp, headers: &HeaderMap, peer: &Peer) -> Option<Response> {
    if latchkey_web::csrf::require_same_origin(headers, &idp.site().origin).is_err() {
        return Some(forbidden_post(idp.site()));
    }
    idp.limits
        .check(Action::Link, idp.client_ip(headers, peer_addr(peer)))
        .err()
        .map(|wait| too_many(idp, wait))
}

async fn live_link(
    idp: &Idp,
    token: &str,
    purpose: LinkPurpose,
) -> Result<Option<OneTimeLink>, StoreError> {
    let link = idp
        .store
        .find_one_time_link(idp.issuer_id(), &sha256_hex(token.as_bytes()), unix_now())
        .await?;
    Ok(link.filter(|l| l.purpose == purpose))
}

pub(crate) async fn get_setup(State(idp): State<Arc<Idp>>, Path(token): Path<String>) -> Response {
    match idp.store.count_admins().await {
        Ok(0) => {}
        Ok(_) => return set_up_already(&idp),
        Err(e) => return internal(idp.site(), e),
    }
    match live_link(&idp, &token, LinkPurpose::Setup).await {
        Ok(Some(_)) => {}
        Ok(None) => return spent(&idp),
        Err(e) => return internal(idp.site(), e),
    }
    setup_page(&idp, &token, StatusCode::OK, None, &NewUser::default())
}

fn setup_page(
    idp: &Idp,
    token: &str,
    status: StatusCode,
    error: Option<String>,
    n: &NewUser,
) -> Response {
    latchkey_web::render_card(
        idp.site(),
        status,
        "Welcome to Latchkey",
        &Setup {
            action: idp.site().path(&format!("/setup/{token}")),
            error,
            username: &n.username,
            email: n.email.as_deref().unwrap_or_default(),
            first_name: &n.first_name,
            last_name: &n.last_name,
        },
    )
}

pub(crate) async fn post_setup(
    State(idp): State<Arc<Idp>>,
    Path(token): Path<String>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refuse_post(&idp, &headers, &peer) {
        return refused;
    }
    let Ok(form) = FormRules::PAGE.parse(&body) else {
        return problem(
            idp.site(),
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            "Go back and try again.",
        );
    };
    let field = |k: &str| form.get(k).unwrap_or_default().trim().to_owned();
    let draft = NewUser {
        username: field("username"),
        email: Some(field("email")).filter(|e| !e.is_empty()),
        first_name: field("first_name"),
        last_name: field("last_name"),
        display_name: None,
        is_admin: true,
    };
    let user = match new_user(draft.clone()) {
        Ok(u) => u,
        Err(e) => {
            return setup_page(
                &idp,
                &token,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(e.to_string()),
                &draft,
            );
        }
    };
    match idp.store.count_admins().await {
        Ok(0) => {}
        Ok(_) => return set_up_already(&idp),
        Err(e) => return internal(idp.site(), e),
    }
    let taken = idp
        .store
        .take_one_time_link(idp.issuer_id(), &sha256_hex(token.as_bytes()), unix_now())
        .await;
    match taken {
        Ok(Some(l)) if l.purpose == LinkPurpose::Setup => {}
        Ok(_) => return spent(&idp),
        Err(e) => return internal(idp.site(), e),
    }
    if let Err(e) = idp.store.create_user(&user).await {
        return internal(idp.site(), e);
    }
    tracing::info!(user = %user.username, "first administrator created with the setup link");
    signed_in(&idp, &user, &headers, peer_addr(&peer), true).await
}

/// Signs `user` in after a link and sends them on: to register a passkey if they have
/// none (or were just created), else to their account.
async fn signed_in(
    idp: &Idp,
    user: &User,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    new: bool,
) -> Response {
    let cookie = match idp.start_session(user, AMR_LINK, headers, peer).await {
        Ok(c) => c,
        Err(e) => return internal(idp.site(), e),
    };
    let has_passkey = if new {
        false
    } else {
        match idp.store.list_passkeys(&user.id).await {
            Ok(list) => !list.is_empty(),
            Err(e) => return internal(idp.site(), e),
        }
    };
    let next = if has_passkey {
        "/account"
    } else {
        "/account/passkeys/new"
    };
    let mut resp = see_other(&idp.site().path(next));
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp.into_response()
}

pub(crate) async fn get_link(State(idp): State<Arc<Idp>>, Path(token): Path<String>) -> Response {
    let link = match live_link(&idp, &token, LinkPurpose::SignIn).await {
        Ok(Some(l)) => l,
        Ok(None) => return spent(&idp),
        Err(e) => return internal(idp.site(), e),
    };
    let user = match link.user_id {
        Some(id) => match idp.store.find_user(&id).await {
            Ok(Some(u)) if !u.disabled => u,
            Ok(_) => return spent(&idp),
            Err(e) => return internal(idp.site(), e),
        },
        None => return spent(&idp),
    };
    latchkey_web::render_card(
        idp.site(),
        StatusCode::OK,
        "Sign in with a link",
        &LinkPage {
            action: idp.site().path(&format!("/lc/{token}")),
            name: user.display_name,
            username: user.username,
        },
    )
}

pub(crate) async fn post_link(
    State(idp): State<Arc<Idp>>,
    Path(token): Path<String>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_post(&idp, &headers, &peer) {
        return refused;
    }
    let taken = idp
        .store
        .take_one_time_link(idp.issuer_id(), &sha256_hex(token.as_bytes()), unix_now())
        .await;
    let user_id = match taken {
        Ok(Some(OneTimeLink {
            purpose: LinkPurpose::SignIn,
            user_id: Some(id),
            ..
        })) => id,
        Ok(_) => return spent(&idp),
        Err(e) => return internal(idp.site(), e),
    };
    let user = match idp.store.find_user(&user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return spent(&idp),
        Err(e) => return internal(idp.site(), e),
    };
    tracing::info!(user = %user.username, "signed in with a one-time link");
    signed_in(&idp, &user, &headers, peer_addr(&peer), false).await
}
