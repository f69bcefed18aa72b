//! The idp role: people sign in with a passkey and get a browser session; the OpenID Provider
//! engine asks the session who they are.
//!
//! This crate holds the session side: [`SessionAuthenticator`] reads the session cookie, and
//! [`DirectoryClaims`] answers what the directory says. The passkey ceremonies, directory and
//! pages arrive with the idp issue; until then `/login` explains that sign-in is unavailable.

mod claims;
pub mod directory;
mod login;
pub mod passkey;
mod session;

pub use claims::DirectoryClaims;
pub use login::router;
pub use session::{
    SESSION_COOKIE, SESSION_COOKIE_SECURE, SessionAuthenticator, session_cookie_name,
};
