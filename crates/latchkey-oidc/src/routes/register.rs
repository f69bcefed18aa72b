//! Dynamic client registration (RFC 7591), off unless the issuer enables it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::clients::{NewClient, create_client};
use crate::error::{OAuthError, no_store_json};
use crate::jose::Alg;
use crate::provider::Provider;
use crate::redirect::validate_registration;

pub async fn post_register(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Open registration is a setting of the issuer; otherwise the role may still allow some
    // callers (tsidp: a grant with allow_dcr).
    let allowed = p.settings.dynamic_registration
        || match p
            .authenticator
            .may_register(&headers, super::peer_addr(&peer))
            .await
        {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether this caller may register");
                return OAuthError::new(
                    "temporarily_unavailable",
                    "cannot tell who is registering right now",
                )
                .into_response();
            }
        };
    if !allowed {
        return OAuthError::new(
            "access_denied",
            "dynamic client registration is not allowed",
        )
        .with_status(StatusCode::FORBIDDEN)
        .into_response();
    }
    if let Some(ip) = p.authenticator.client_ip(&headers, super::peer_addr(&peer))
        && !p.limits.allow_registration(ip)
    {
        return OAuthError::too_many("invalid_request", 60).into_response();
    }
    match register(&p, &headers, body).await {
        Ok(v) => {
            let mut r = no_store_json(v.to_string());
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Err(e) => e.into_response(),
    }
}

fn metadata_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_client_metadata", d)
}

fn string_list(v: &Value, name: &str) -> Result<Vec<String>, OAuthError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| metadata_error(format!("{name} must be an array of strings")))
            })
            .collect(),
        Some(_) => Err(metadata_error(format!(
            "{name} must be an array of strings"
        ))),
    }
}

async fn register(
    p: &Provider,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let body = body.map_err(|r| {
        OAuthError::invalid_request("request body could not be read").with_status(r.status())
    })?;
    let json_ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_ct {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/json",
        ));
    }
    let meta: Value =
        serde_json::from_slice(&body).map_err(|_| metadata_error("the body is not valid JSON"))?;
    if !meta.is_object() {
        return Err(metadata_error("the body must be a JSON object"));
    }
    let redirect_uris = string_list(&meta, "redirect_uris")?;
    if redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "redirect_uris is required",
        ));
    }
    for uri in &redirect_uris {
        validate_registration(uri).map_err(|e| OAuthError::new("invalid_redirect_uri", e))?;
    }
    let post_logout = string_list(&meta, "post_logout_redirect_uris")?;
    for uri in &post_logout {
        validate_registration(uri).map_err(metadata_error)?;
    }
    let method = meta
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_basic")
        .to_owned();
    let public = match method.as_str() {
        "client_secret_basic" | "client_secret_post" => false,
        "none" => true,
        other => {
            return Err(metadata_error(format!(
                "unsupported token_endpoint_auth_method {other}"
            )));
        }
    };
    let grant_types = string_list(&meta, "grant_types")?;
    let supported = crate::metadata::supported_grant_types(&p.settings);
    for g in &grant_types {
        if !supported.contains(&g.as_str()) {
            return Err(metadata_error(format!("unsupported grant type {g}")));
        }
    }
    // RFC 7591 §2: omitted means authorization_code. Stored explicitly, and enforced at the
    // token endpoint.
    let grant_types = if grant_types.is_empty() {
        vec!["authorization_code".to_owned()]
    } else {
        grant_types
    };
    for confidential_only in ["client_credentials", crate::metadata::TOKEN_EXCHANGE] {
        if public && grant_types.iter().any(|g| g == confidential_only) {
            return Err(metadata_error(format!(
                "a public client (token_endpoint_auth_method none) cannot use {confidential_only}"
            )));
        }
    }
    let mut meta = meta;
    meta["grant_types"] = json!(grant_types);
    for r in string_list(&meta, "response_types")? {
        if r != "code" {
            return Err(metadata_error(format!("unsupported response type {r}")));
        }
    }
    let alg = match meta
        .get("id_token_signed_response_alg")
        .and_then(Value::as_str)
    {
        None => Alg::RS256,
        Some(a) => a
            .parse()
            .map_err(|_| metadata_error(format!("unsupported id_token_signed_response_alg {a}")))?,
    };
    let name = meta
        .get("client_name")
        .and_then(Value::as_str)
        .unwrap_or("Registered client")
        .chars()
        .take(200)
        .collect::<String>();
    let created = create_client(
        &p.store,
        p.issuer_id(),
        NewClient {
            name,
            redirect_uris,
            post_logout_redirect_uris: post_logout,
            public,
            id_token_alg: alg,
            metadata: meta.clone(),
        },
    )
    .await
    .map_err(OAuthError::internal)?;
    let c = &created.client;
    let mut out = meta;
    out["client_id"] = json!(c.id.as_str());
    out["client_id_issued_at"] = json!(c.created_at);
    out["token_endpoint_auth_method"] = json!(method);
    out["id_token_signed_response_alg"] = json!(alg.as_str());
    out["redirect_uris"] = json!(c.redirect_uris);
    if let Some(secret) = created.secret {
        out["client_secret"] = json!(secret);
        out["client_secret_expires_at"] = json!(0);
    }
    Ok(out)
}
