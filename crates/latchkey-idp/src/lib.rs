//! The idp role: people sign in with a passkey and get a browser session; the OpenID Provider
//! engine asks the session who they are, and the directory what to say about them.
//!
//! [`Idp`] holds the role's state; [`SessionAuthenticator`] and [`DirectoryClaims`] are its
//! answers to the engine; [`router`] serves its pages and the WebAuthn JSON routes.

mod api;
mod audit;
mod claims;
mod client_policy;
mod cookies;
pub mod directory;
mod limits;
pub mod links;
pub mod net;
mod pages;
pub mod passkey;
mod session;
mod state;
mod webfinger;

pub use claims::{DirectoryClaims, preferred_username};
pub use client_policy::{
    ALLOWED_GROUPS, ClientPolicy, LAUNCH_URL, LOGO_VERSION, SESSION_DURATION, SKIP_CONSENT,
};
pub use pages::router;
pub use session::{AMR_LINK, AMR_PASSKEY, LogoutNotifier, Person, SessionAuthenticator, sid_of};
pub use state::{Idp, IdpSettings};
