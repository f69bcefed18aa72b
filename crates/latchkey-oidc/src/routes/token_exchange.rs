//! RFC 8693 token exchange: a confidential client (say, a gateway that received a user's
//! access token) trades that token for one addressed to another audience. Which audiences a
//! user's tokens may be exchanged for is the role's decision ([`crate::ClaimsSource::audiences`]),
//! taken on the grant's sign-in snapshot, so the tsidp role follows the grant's
//! `users`/`resources` rules as tsidp does.
//!
//! The new token belongs to the same grant as the subject token: revoking the grant (sign-out,
//! refresh-token reuse, deleting the original client) revokes exchanged tokens too, and so
//! does deleting the exchanging client. It never outlives the subject token, so exchanging
//! again and again cannot keep a user's token alive. An actor token must have been issued to
//! the exchanging client itself. No refresh token and no ID token are issued.

use latchkey_store::Client;
use serde_json::{Map, Value, json};

use super::resources::{check_resource_uris, granted_audiences};
use super::scope_list;
use crate::error::OAuthError;
use crate::params::Params;
use crate::provider::Provider;
use crate::tokens::{
    AccessTokenError, AccessTokenRequest, VerifiedAccessToken, verify_access_token,
};

pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Our access tokens are JWTs, so a client may name them either way.
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

pub(crate) async fn exchange(
    p: &Provider,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    super::token::confidential_only(client, "token exchange requires a confidential client")?;
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is missing"))?;
    check_token_type(params.get("subject_token_type"), "subject_token_type")?;
    if let Some(t) = params.get("requested_token_type")
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    let mut requested = params.get_all("audience");
    let resources = params.get_all("resource");
    check_resource_uris(&resources)?;
    requested.extend(resources);
    if requested.is_empty() {
        return Err(OAuthError::invalid_request(
            "name the target with audience or resource",
        ));
    }
    let actor = match params.get("actor_token") {
        Some(token) => {
            check_token_type(params.get("actor_token_type"), "actor_token_type")?;
            let actor = verified(p, token, "actor_token").await?;
            // The actor is the client making the request: a token some other client handed
            // over must not let this one claim that the other acts.
            if actor.client_id != client.id.as_str() {
                return Err(OAuthError::invalid_request(
                    "the actor_token was not issued to this client",
                ));
            }
            Some(actor)
        }
        None if params.get("actor_token_type").is_some() => {
            return Err(OAuthError::invalid_request(
                "actor_token_type given without actor_token",
            ));
        }
        None => None,
    };

    let subject = verified(p, subject_token, "subject_token").await?;
    // A client_credentials token names no user, so there is nobody to act for.
    let grant = subject
        .grant
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("the subject_token was not issued to a user"))?;
    let granted_scope = scope_list(&subject.scope);
    let scope = match params.get("scope") {
        Some(asked) => {
            let asked = scope_list(asked);
            if !asked.iter().all(|s| granted_scope.contains(s)) {
                return Err(OAuthError::invalid_scope(
                    "scope exceeds what the subject_token carries",
                ));
            }
            asked.join(" ")
        }
        None => granted_scope.join(" "),
    };
    let snapshot = super::token::grant_snapshot(grant)?;
    let audience = granted_audiences(p, &grant.subject, &snapshot, &requested)?;
    // Whoever acted before on the subject token stays on record: nested under a new actor,
    // or as the actor when there is no new one.
    let prior = subject.claims.get("act");
    let act = match &actor {
        Some(a) => Some(actor_claim(a, prior)),
        None => prior.cloned(),
    };

    let access = p
        .mint_access_token(&AccessTokenRequest {
            client,
            subject: grant.subject.as_str(),
            scope: &scope,
            audience: &audience,
            auth_time: Some(grant.auth_time),
            grant: Some(&grant.id),
            act: act.as_ref(),
            // Exchanging never extends how long a user's token is good for.
            not_after: Some(subject.exp),
        })
        .await
        .map_err(OAuthError::internal)?;
    tracing::info!(
        client = %client.id,
        from_client = %subject.client_id,
        audience = ?audience,
        "token exchanged"
    );
    let mut body = json!({
        "access_token": access.token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
    });
    if !scope.is_empty() {
        body["scope"] = Value::from(scope);
    }
    Ok(body)
}

fn check_token_type(value: Option<&str>, name: &str) -> Result<(), OAuthError> {
    match value {
        Some(ACCESS_TOKEN_TYPE | JWT_TYPE) => Ok(()),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "{name} must be {ACCESS_TOKEN_TYPE}: only this issuer's access tokens can be exchanged"
        ))),
        None => Err(OAuthError::invalid_request(format!("{name} is missing"))),
    }
}

/// One of our own live access tokens; anything else is `invalid_request`, as RFC 8693
/// §2.2.2 asks for tokens that are invalid or unacceptable.
async fn verified(
    p: &Provider,
    token: &str,
    name: &str,
) -> Result<VerifiedAccessToken, OAuthError> {
    verify_access_token(p, token).await.map_err(|e| match e {
        AccessTokenError::Invalid(why) => {
            OAuthError::invalid_request(format!("the {name} is not valid: {why}"))
        }
        AccessTokenError::Store(e) => OAuthError::internal(e),
    })
}

/// RFC 8693 §4.1: the current actor outermost, prior actors nested (a delegation chain):
/// those of the subject token, else the actor token's own.
fn actor_claim(actor: &VerifiedAccessToken, prior: Option<&Value>) -> Value {
    let mut act = Map::new();
    act.insert("sub".into(), Value::from(actor.subject.as_str()));
    act.insert("client_id".into(), Value::from(actor.client_id.as_str()));
    if let Some(prior) = prior.or(actor.claims.get("act")) {
        act.insert("act".into(), prior.clone());
    }
    Value::Object(act)
}
