//! The tsidp role: an OpenID Provider for a tailnet. It asks tailscaled who is at the other end
//! of each connection (WhoIs over the LocalAPI) and signs that person in without a prompt.

pub mod admin;
pub mod authenticator;
pub mod claims;
pub mod claims_source;
pub mod directory;
pub mod funnel;
pub mod grants;
pub mod localapi;
pub mod sign_in;
pub mod tailnet;
pub mod whois;

pub use authenticator::{Caller, CallerError, TailnetAuthenticator};
pub use claims_source::TailnetClaims;
pub use directory::TailnetDirectoryClaims;
pub use localapi::LocalApi;
pub use tailnet::{Tailnet, TailnetError};
