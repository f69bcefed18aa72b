//! Between sign-in and the application: `/consent` asks the person once per client (and
//! again for new scopes, or when the client asks with `prompt=consent`); `/refused` says
//! that the person may not use the client. Both come with the engine's two signed URLs:
//! `resume` continues the authorization request, `deny` ends it with `access_denied`.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_store::{Consent, Subject, unix_now};
use latchkey_web::FormRules;
use serde::Deserialize;

use super::{AppView, client_of, forbidden_post, internal, problem, see_other};
use crate::session::Person;
use crate::state::Idp;

const CONSENT_PURPOSE: &str = "consent";

#[derive(Deserialize)]
pub(crate) struct Interaction {
    resume: Option<String>,
    deny: Option<String>,
}

/// What a scope lets the application see, in words.
pub(crate) fn scope_text(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Who you are: an identifier that stays the same",
        "profile" => "Your name, username and profile details",
        "email" => "Your e-mail address",
        "groups" => "The groups you belong to",
        "offline_access" => "Stay connected when you are not using it",
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    app: AppView,
    person: String,
    items: Vec<&'static str>,
    check: &'static str,
    action: String,
    csrf: String,
    resume: String,
    deny: String,
}

#[derive(Template)]
#[template(path = "refused.html")]
struct Refused {
    app: AppView,
    person: String,
    deny: String,
}

/// Both URLs, if they are the engine's authorize URLs on this issuer (the page never sends
/// anyone elsewhere).
fn urls(idp: &Idp, q: &Interaction) -> Option<(String, String)> {
    let authorize = idp.url("/authorize?");
    let resume = q.resume.as_deref().filter(|u| u.starts_with(&authorize))?;
    let deny = q.deny.as_deref().filter(|u| u.starts_with(&authorize))?;
    Some((resume.to_owned(), deny.to_owned()))
}

fn stale(idp: &Idp) -> Response {
    problem(
        idp.site(),
        StatusCode::BAD_REQUEST,
        "This page has nothing to do",
        "It is reached from an application's sign-in. Go back to the application and sign in again.",
    )
}

async fn signed_in(idp: &Idp, headers: &HeaderMap, resume: &str) -> Result<Person, Response> {
    match idp.person(headers).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(see_other(&{
            let mut url = url::Url::parse(&idp.url("/login")).expect("issuer is a valid URL");
            url.query_pairs_mut().append_pair("return_to", resume);
            String::from(url)
        })),
        Err(e) => Err(internal(idp.site(), e)),
    }
}

pub(crate) async fn get_consent(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Query(q): Query<Interaction>,
) -> Response {
    let Some((resume, deny)) = urls(&idp, &q) else {
        return stale(&idp);
    };
    let person = match signed_in(&idp, &headers, &resume).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (client, scopes) = match client_of(&idp, &resume).await {
        Ok(Some(found)) => found,
        Ok(None) => return stale(&idp),
        Err(e) => return internal(idp.site(), e),
    };
    let app = idp.app_view(&client);
    let title = format!("Allow {} to use your account?", app.name);
    let mut items: Vec<&'static str> = scopes.iter().filter_map(|s| scope_text(s)).collect();
    items.dedup();
    latchkey_web::render_card(
        idp.site(),
        StatusCode::OK,
        &title,
        &ConsentPage {
            app,
            person: person.user.display_name.clone(),
            items,
            check: latchkey_web::icons::CHECK,
            action: idp.site().path("/consent"),
            csrf: idp
                .csrf
                .token(CONSENT_PURPOSE, person.user.id.as_str(), unix_now()),
            resume,
            deny,
        },
    )
}

/// "Allow": the consent is recorded (widened to the scopes asked now) and the request goes on.
pub(crate) async fn post_consent(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = FormRules::PAGE.parse(&body) else {
        return stale(&idp);
    };
    let q = Interaction {
        resume: form.get("resume").map(str::to_owned),
        deny: form.get("deny").map(str::to_owned),
    };
    let Some((resume, _)) = urls(&idp, &q) else {
        return stale(&idp);
    };
    let person = match signed_in(&idp, &headers, &resume).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let now = unix_now();
    if idp
        .csrf
        .check(
            &headers,
            form.get(latchkey_web::TOKEN_FIELD),
            CONSENT_PURPOSE,
            person.user.id.as_str(),
            now,
        )
        .is_err()
    {
        return forbidden_post(idp.site());
    }
    let (client, scopes) = match client_of(&idp, &resume).await {
        Ok(Some(found)) => found,
        Ok(None) => return stale(&idp),
        Err(e) => return internal(idp.site(), e),
    };
    let subject = Subject(person.user.id.0.clone());
    let mut scope: Vec<String> = match idp
        .store
        .find_consent(idp.issuer_id(), &subject, &client.id)
        .await
    {
        Ok(Some(c)) => c.scope.split_whitespace().map(str::to_owned).collect(),
        Ok(None) => Vec::new(),
        Err(e) => return internal(idp.site(), e),
    };
    for s in scopes {
        if !scope.contains(&s) {
            scope.push(s);
        }
    }
    let consent = Consent {
        issuer: idp.issuer_id().clone(),
        subject,
        client_id: client.id.clone(),
        scope: scope.join(" "),
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = idp.store.upsert_consent(&consent).await {
        return internal(idp.site(), e);
    }
    tracing::info!(user = %person.user.username, client = %client.id, "consent given");
    see_other(&resume)
}

pub(crate) async fn get_refused(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    Query(q): Query<Interaction>,
) -> Response {
    let Some((resume, deny)) = urls(&idp, &q) else {
        return stale(&idp);
    };
    let person = match signed_in(&idp, &headers, &resume).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let client = match client_of(&idp, &resume).await {
        Ok(Some((c, _))) => c,
        Ok(None) => return stale(&idp),
        Err(e) => return internal(idp.site(), e),
    };
    let app = idp.app_view(&client);
    let title = format!("You cannot use {}", app.name);
    latchkey_web::render_card(
        idp.site(),
        StatusCode::FORBIDDEN,
        &title,
        &Refused {
            app,
            person: person.user.username,
            deny,
        },
    )
}
