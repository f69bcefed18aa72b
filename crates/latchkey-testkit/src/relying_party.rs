//! The `openidconnect` crate as an independent relying party: it discovers the issuer, makes
//! the authorization request (state, nonce, PKCE S256), redeems the code and fetches userinfo.
//! How the browser gets from the request to the code is the test's business.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SubjectIdentifier,
};
use url::Url;

/// The client as `openidconnect` builds it from discovery.
pub type CoreRp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct RelyingParty {
    pub client: CoreRp,
    http: reqwest::Client,
}

/// An authorization request, and what the relying party keeps to finish it.
pub struct SignIn {
    pub url: Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl RelyingParty {
    /// The issuer's metadata (and JWKS) as `openidconnect` reads them. `http` must not follow
    /// redirects.
    pub async fn discover(http: &reqwest::Client, issuer: &str) -> CoreProviderMetadata {
        let issuer = IssuerUrl::new(issuer.to_owned()).expect("issuer URL");
        CoreProviderMetadata::discover_async(issuer, http)
            .await
            .expect("openidconnect discovery")
    }

    /// Client `client_id` (confidential when it has a secret, with client_secret_basic) of
    /// the issuer, found by discovery.
    pub async fn new(
        http: &reqwest::Client,
        issuer: &str,
        client_id: &str,
        secret: Option<&str>,
        redirect_uri: &str,
    ) -> RelyingParty {
        let client = CoreClient::from_provider_metadata(
            RelyingParty::discover(http, issuer).await,
            ClientId::new(client_id.to_owned()),
            secret.map(|s| ClientSecret::new(s.to_owned())),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).expect("redirect URI"))
        .set_auth_type(AuthType::BasicAuth);
        RelyingParty {
            client,
            http: http.clone(),
        }
    }

    /// How the client authenticates at the token endpoint.
    pub fn with_auth_type(mut self, auth: AuthType) -> RelyingParty {
        self.client = self.client.set_auth_type(auth);
        self
    }

    /// A code flow request for `openid` and `scopes`, with random state, nonce and PKCE.
    pub fn sign_in(&self, scopes: &[&str]) -> SignIn {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        SignIn {
            url,
            state,
            nonce,
            verifier,
        }
    }

    /// The code at the token endpoint, with the request's PKCE verifier.
    pub async fn redeem(&self, code: &str, verifier: PkceCodeVerifier) -> CoreTokenResponse {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .expect("a token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .expect("token request through openidconnect")
    }

    /// Userinfo for the access token, which must be about `subject`.
    pub async fn userinfo(
        &self,
        tokens: &CoreTokenResponse,
        subject: &SubjectIdentifier,
    ) -> CoreUserInfoClaims {
        self.client
            .user_info(tokens.access_token().clone(), Some(subject.clone()))
            .expect("a userinfo endpoint")
            .request_async(&self.http)
            .await
            .expect("userinfo through openidconnect")
    }
}
