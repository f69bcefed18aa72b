//! `--skip-jwt-bearer-tokens`: a request that carries `Authorization: Bearer JWT` passes
//! without a session when the token is an ID token of the provider for this client, or of one
//! of `--extra-jwt-issuers` for its audience (validated as at sign-in: signature through the
//! issuer's JWKS, `iss`, `aud`, `azp`, times). The token goes on to the app as it came.

use axum::http::{HeaderMap, header};
use latchkey_store::{ProxyIdentity, unix_now};

use crate::provider::{RelyingParty, identity_from_claims};
use crate::settings::{ProxySettings, SettingsError};

/// The extra issuers, each a relying party of its own (discovered when first needed).
pub(crate) struct Bearers {
    enabled: bool,
    extra: Vec<RelyingParty>,
}

impl Bearers {
    pub(crate) fn new(settings: &ProxySettings) -> Result<Bearers, SettingsError> {
        let extra = settings
            .extra_issuers()?
            .into_iter()
            .map(|(issuer, audience)| {
                let mut p = settings.provider.clone();
                p.issuer_url = issuer;
                p.client_id = audience;
                p.client_secret = None;
                RelyingParty::new(p, settings.redirect_url.clone())
            })
            .collect();
        Ok(Bearers {
            enabled: settings.skip_jwt_bearer_tokens,
            extra,
        })
    }

    /// Who the request's bearer token names, if it is one we accept.
    pub(crate) async fn identity(
        &self,
        main: &RelyingParty,
        headers: &HeaderMap,
    ) -> Option<ProxyIdentity> {
        if !self.enabled {
            return None;
        }
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .trim();
        // A JWT has three parts; anything else is some other scheme's token.
        if token.split('.').count() != 3 {
            return None;
        }
        let now = unix_now();
        for rp in std::iter::once(main).chain(self.extra.iter()) {
            match rp.validate_bearer(token, now).await {
                Ok(claims) => return identity_from_claims(&claims, &rp.settings),
                Err(e) => {
                    tracing::debug!(issuer = %rp.settings.issuer_url, error = %e, "bearer token not from this issuer")
                }
            }
        }
        None
    }
}
