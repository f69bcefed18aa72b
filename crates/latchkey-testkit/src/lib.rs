//! Test support: fresh databases on every backend. Dev-only; the product never links it.

mod db;

pub use db::{Backend, TestDb, backends, pg_admin_url};
