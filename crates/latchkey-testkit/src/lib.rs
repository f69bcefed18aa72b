//! Test support: fresh databases on every backend. Dev-only; the product never links it.

mod db;
mod tailscaled;

pub use db::{Backend, TestDb, backends, pg_admin_url, untrusted_ca_path, with_query};
pub use tailscaled::{
    DEFAULT_SELF, FakeTailscaled, TSIDP_CAP, status_body, tagged_body, whois_body, with_groups,
};
