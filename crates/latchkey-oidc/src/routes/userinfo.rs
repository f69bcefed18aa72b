//! UserInfo (OIDC Core §5.3): bearer token in the header, or in a form body (RFC 6750 §2.2).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::scope_list;
use crate::error::{BearerError, no_store_json};
use crate::provider::Provider;
use crate::tokens::{AccessTokenError, verify_access_token};

pub async fn get_userinfo(State(p): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    match bearer_from_header(&headers) {
        Ok(Some(token)) => userinfo(&p, &token).await,
        Ok(None) => BearerError::missing().into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn post_userinfo(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let from_header = match bearer_from_header(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let from_body = match body {
        Ok(b) if super::is_form(&headers) && !b.is_empty() => match crate::params::parse(&b) {
            Ok(params) => params.get("access_token").map(str::to_owned),
            Err(e) => return BearerError::invalid_request(e.to_string()).into_response(),
        },
        Ok(_) => None,
        Err(_) => {
            return BearerError::invalid_request("request body could not be read").into_response();
        }
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => {
            BearerError::invalid_request("send the token one way only").into_response()
        }
        (Some(t), None) | (None, Some(t)) => userinfo(&p, &t).await,
        (None, None) => BearerError::missing().into_response(),
    }
}

fn bearer_from_header(headers: &HeaderMap) -> Result<Option<String>, BearerError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| BearerError::invalid_request("malformed Authorization header"))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(BearerError::invalid_request("expected a Bearer token")),
    }
}

async fn userinfo(p: &Provider, token: &str) -> Response {
    let at = match verify_access_token(p, token).await {
        Ok(at) => at,
        Err(AccessTokenError::Invalid(why)) => {
            return BearerError::invalid_token(why).into_response();
        }
        Err(AccessTokenError::Store(e)) => {
            tracing::error!(error = %e, "userinfo token check failed");
            return crate::error::OAuthError::internal(e).into_response();
        }
    };
    let scopes = scope_list(&at.scope);
    if !scopes.contains(&"openid") {
        return BearerError {
            code: Some("insufficient_scope"),
            description: "the token was not granted the openid scope".into(),
        }
        .into_response();
    }
    let snapshot = match at.grant.as_deref().map(super::token::grant_snapshot) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return e.into_response(),
        None => crate::snapshot::Snapshot::default(),
    };
    let mut claims = match super::token::release_claims(
        p,
        &at.subject,
        &scopes,
        &snapshot,
        crate::ClaimsFor::Userinfo,
    )
    .await
    {
        Ok(c) => c,
        Err(crate::RoleError::Gone) => {
            return BearerError::invalid_token("the user may no longer use this application")
                .into_response();
        }
        Err(e) => return crate::error::OAuthError::internal(e).into_response(),
    };
    claims.insert("sub".into(), Value::from(at.subject.as_str()));
    no_store_json(Value::Object(claims).to_string())
}
