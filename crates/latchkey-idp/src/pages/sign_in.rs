//! `/login`: sign in with a passkey (the button, or the browser's autofill), and `/logout`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppView, client_of, forbidden_post, internal, safe_return, see_other};
use crate::state::Idp;

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    return_to: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn {
    app: Option<AppView>,
    /// The application's `login_hint`, shown in the username field.
    hint: String,
    start: String,
    finish: String,
}

pub(crate) async fn get_login(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let return_to = safe_return(&idp, q.return_to.as_deref());
    let app = match &return_to {
        Some(to) => match client_of(&idp, to).await {
            Ok(found) => found.map(|(c, _)| idp.app_view(&c)),
            Err(e) => return internal(idp.site(), e),
        },
        None => None,
    };
    // Someone already signed in who opened /login by hand goes to their account; a sign-in
    // asked for by an application (which may want a fresh one) always shows the page.
    if return_to.is_none() {
        match idp.person(&headers).await {
            Ok(Some(_)) => return see_other(&idp.site().path("/account")),
            Ok(None) => {}
            Err(e) => return internal(idp.site(), e),
        }
    }
    let mut finish = url::form_urlencoded::Serializer::new(String::new());
    if let Some(to) = &return_to {
        finish.append_pair("return_to", to);
    }
    let finish = match finish.finish() {
        q if q.is_empty() => idp.site().path("/api/webauthn/login/finish"),
        q => format!("{}?{q}", idp.site().path("/api/webauthn/login/finish")),
    };
    let title = match &app {
        Some(a) => format!("Sign in to {}", a.name),
        None => "Sign in".to_owned(),
    };
    let hint = return_to
        .as_deref()
        .and_then(|to| url::Url::parse(to).ok())
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "login_hint")
                .map(|(_, v)| v.chars().take(254).collect())
        })
        .unwrap_or_default();
    latchkey_web::render_card_with_script(
        idp.site(),
        StatusCode::OK,
        &title,
        &SignIn {
            app,
            hint,
            start: idp.site().path("/api/webauthn/login/start"),
            finish,
        },
    )
}

/// Signs out of this browser's session (posted from the account pages).
pub(crate) async fn post_logout(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    if latchkey_web::csrf::require_same_origin(&headers, &idp.site().origin).is_err() {
        return forbidden_post(idp.site());
    }
    let clear = idp.end_session(&headers).await;
    let mut resp = see_other(&idp.site().path("/login"));
    resp.headers_mut().insert(header::SET_COOKIE, clear);
    resp.into_response()
}
