//! Test support shared by Latchkey's test suites. Dev-only; the product never links it.
//!
//! - [`TestDb`]: a fresh database per test, on every backend.
//! - [`FakeTailscaled`]: a stand-in tailscaled (LocalAPI on a unix socket).
//! - [`Served`]: a role's router served on loopback, stopped gracefully; [`Process`]: the real
//!   binary as a child process, read through its JSON log.
//! - HTTP as clients send it: [`http_client`], [`post_form_as`], [`authorize_url`],
//!   [`authorization_response`], [`code_grant`], [`Pkce`], [`jwt_parts`], and [`RelyingParty`]
//!   (`openidconnect` as an independent client).

mod authorization;
mod db;
mod http;
mod jwt;
mod master_key;
mod pkce;
mod process;
mod relying_party;
mod serve;
mod tailscaled;
mod token_forms;

pub use authorization::{authorization_response, authorize_url, query_map};
pub use db::{
    Backend, TestDb, backends, on_each_backend, pg_admin_url, untrusted_ca_path, with_query,
};
pub use http::{
    basic, get_json, http_client, http_client_from, post_form_as, post_form_json, with_headers,
};
pub use jwt::{b64, jwt_claims, jwt_parts};
pub use master_key::master_key;
pub use pkce::Pkce;
pub use process::Process;
pub use relying_party::{RelyingParty, SignIn};
pub use serve::{Served, bind_loopback, free_port};
pub use tailscaled::{
    DEFAULT_SELF, FakeTailscaled, TSIDP_CAP, status_body, tagged_body, whois_body, with_groups,
};
pub use token_forms::{ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, code_grant, token_exchange};
