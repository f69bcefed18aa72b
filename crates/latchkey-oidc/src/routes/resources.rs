//! RFC 8707 resource indicators (and RFC 8693 audiences): which resources a grant's access
//! token may name as audiences, as the role decides for the grant's sign-in snapshot.

use latchkey_store::{Client, Subject};

use crate::error::OAuthError;
use crate::params::Params;
use crate::provider::Provider;
use crate::role::TargetError;
use crate::snapshot::Snapshot;

/// The access token's audiences for the `resource` parameters, as the role allows them for
/// this grant (`invalid_target` otherwise): the client first, then the granted resources.
/// Empty when none was asked for.
pub(crate) fn resource_audience(
    p: &Provider,
    client: &Client,
    subject: &Subject,
    snapshot: &Snapshot,
    params: &Params,
) -> Result<Vec<String>, OAuthError> {
    let requested = params.get_all("resource");
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    check_resource_uris(&requested)?;
    let mut audience = vec![client.id.0.clone()];
    for a in granted_audiences(p, subject, snapshot, &requested)? {
        if !audience.contains(&a) {
            audience.push(a);
        }
    }
    Ok(audience)
}

/// RFC 8707 §2: a resource is an absolute URI without a fragment.
pub(crate) fn check_resource_uris(resources: &[&str]) -> Result<(), OAuthError> {
    for r in resources {
        let ok = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none()) && !r.contains('#');
        if !ok {
            return Err(OAuthError::new(
                "invalid_target",
                "a resource must be an absolute URI without a fragment",
            ));
        }
    }
    Ok(())
}

/// Those of `requested` the role grants to this subject, in request order; `invalid_target`
/// when it grants none.
pub(crate) fn granted_audiences(
    p: &Provider,
    subject: &Subject,
    snapshot: &Snapshot,
    requested: &[&str],
) -> Result<Vec<String>, OAuthError> {
    let allowed = match p.claims.audiences(subject, snapshot, requested) {
        Ok(allowed) => allowed,
        Err(e @ TargetError::NotOffered) => {
            return Err(OAuthError::new("invalid_target", e.to_string()));
        }
        Err(TargetError::Role(e)) => return Err(OAuthError::internal(e)),
    };
    let mut granted: Vec<String> = Vec::new();
    for r in requested {
        if allowed.iter().any(|a| a == r) && !granted.iter().any(|g| g == r) {
            granted.push((*r).to_owned());
        }
    }
    if granted.is_empty() {
        return Err(OAuthError::new(
            "invalid_target",
            "none of the requested resources may be granted",
        ));
    }
    Ok(granted)
}
