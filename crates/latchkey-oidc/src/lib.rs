//! Latchkey's OpenID Provider engine. It knows nothing about passkeys or tailnets: a role plugs
//! in an [`Authenticator`] (who is this request?) and a [`ClaimsSource`] (what do we say about
//! them?), and gets discovery, JWKS, authorize, token, userinfo, introspection, revocation,
//! end-session and registration for its issuer.

pub mod backchannel;
pub mod client_cache;
pub mod clients;
pub mod code;
pub mod crypto;
pub mod error;
pub mod jose;
pub mod keyring;
pub mod limits;
pub mod metadata;
pub mod minted;
pub mod params;
pub mod pkce;
pub mod provider;
pub mod redirect;
pub mod role;
pub mod routes;
pub mod snapshot;
pub mod tokens;
pub mod ttl_cache;

pub use provider::{Provider, ProviderSettings};
pub use role::{
    Authentication, Authenticator, AuthnRequest, BoxFuture, ClaimsFor, ClaimsSource, Principal,
    ResumeUrl, RoleError, TargetError,
};
pub use routes::router;
pub use snapshot::{Snapshot, SnapshotError, SnapshotExtension, StandardClaims};
