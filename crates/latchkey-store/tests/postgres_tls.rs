//! PostgreSQL over TLS: `sslmode` and `sslrootcert` in the URL reach the connection, and a
//! certificate that cannot be trusted stops `Store::connect` with a message that says so.

use std::str::FromStr;
use std::time::{Duration, Instant};

use latchkey_store::{Store, StoreError};
use latchkey_testkit::{Backend, TestDb, untrusted_ca_path, with_query};
use sqlx::Connection;

/// Connects with `query` added to a fresh database's URL, and says whether PostgreSQL sees
/// that connection as encrypted.
async fn tls_in_use_with(query: &str) -> bool {
    let db = TestDb::new(Backend::Postgres).await;
    let store = Store::connect(&with_query(&db.url, query))
        .await
        .unwrap_or_else(|e| panic!("connect with {query}: {e}"));
    let tls = store.tls_in_use().await.unwrap();
    store.close().await;
    db.cleanup().await;
    tls.expect("PostgreSQL answers whether the connection is encrypted")
}

/// Connects with `query`, expecting a refusal, and returns its text.
async fn refused_with(query: &str) -> String {
    let db = TestDb::new(Backend::Postgres).await;
    let started = Instant::now();
    let result = Store::connect(&with_query(&db.url, query)).await;
    let elapsed = started.elapsed();
    db.cleanup().await;
    let err = match result {
        Ok(_) => panic!("connect with {query} should have been refused"),
        Err(e) => e,
    };
    assert!(
        matches!(err, StoreError::Tls { .. }),
        "a TLS failure, not {err:?}"
    );
    // A TLS refusal is final: no retrying until the pool's acquire timeout.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    err.to_string()
}

#[tokio::test]
async fn sslmode_require_encrypts_the_connection() {
    assert!(tls_in_use_with("sslmode=require").await);
}

#[tokio::test]
async fn sslmode_disable_leaves_the_connection_plain() {
    assert!(!tls_in_use_with("sslmode=disable").await);
}

/// libpq's default (`prefer`) would encrypt a loopback connection for nothing and pay a
/// handshake per connection; without an `sslmode`, Latchkey's stays plain there, and asking
/// for `prefer` by name still gets TLS from a server that offers it.
#[tokio::test]
async fn a_loopback_connection_without_sslmode_stays_plain() {
    if std::env::var_os("PGSSLMODE").is_some() {
        return;
    }
    assert!(!tls_in_use_with("application_name=latchkey-test").await);
    assert!(tls_in_use_with("sslmode=prefer").await);
}

#[tokio::test]
async fn verify_full_refuses_a_server_certificate_from_another_ca() {
    let ca = untrusted_ca_path();
    let text = refused_with(&format!("sslmode=verify-full&sslrootcert={}", ca.display())).await;
    assert!(
        text.starts_with("could not connect to PostgreSQL at ") && text.contains(" over TLS: "),
        "{text}"
    );
    assert!(
        text.contains("the server's certificate is not trusted"),
        "{text}"
    );
    assert!(
        text.contains(&format!("sslrootcert={}", ca.display())),
        "{text}"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}

/// As libpq does, `require` with a root certificate checks the server's chain against it.
#[tokio::test]
async fn require_with_a_root_certificate_verifies_the_chain() {
    let ca = untrusted_ca_path();
    let text = refused_with(&format!("sslmode=require&sslrootcert={}", ca.display())).await;
    assert!(
        text.contains("not trusted") && text.contains("sslmode=require"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_root_certificate_file_is_named() {
    let text = refused_with("sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem").await;
    assert!(
        text.contains("cannot read the sslrootcert file")
            && text.contains("sslrootcert=/nonexistent/ca.pem"),
        "{text}"
    );
}

/// With the server's own self-signed certificate as root, `verify-ca` succeeds, and
/// `verify-full` at an address the certificate does not name is refused, naming the host.
/// Needs the server's certificate file on this machine (the local test server's is).
#[tokio::test]
async fn the_servers_own_certificate_as_root() {
    let admin = latchkey_testkit::pg_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let cert_file: String = sqlx::query_scalar("SHOW ssl_cert_file")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    if std::fs::metadata(&cert_file).is_err() {
        eprintln!("skipped: the server's certificate {cert_file} is not on this machine");
        return;
    }
    assert!(tls_in_use_with(&format!("sslmode=verify-ca&sslrootcert={cert_file}")).await);

    let host = sqlx::postgres::PgConnectOptions::from_str(&admin)
        .unwrap()
        .get_host()
        .to_owned();
    if host.parse::<std::net::IpAddr>().is_ok() {
        let text = refused_with(&format!("sslmode=verify-full&sslrootcert={cert_file}")).await;
        assert!(
            text.contains(&format!("does not name the host {host}")),
            "{text}"
        );
    }
}

/// The store keeps its own connections: one the server dropped costs at most the query that
/// found it broken; the next one is checked, replaced, and works.
#[tokio::test]
async fn a_connection_the_server_dropped_is_replaced() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = Store::connect(&db.url).await.unwrap();
    store.ping().await.unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&latchkey_testkit::pg_admin_url())
        .await
        .unwrap();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(killed >= 1, "the store's connection was there to drop");
    let _ = admin.close().await;
    // The first use may fail (it finds the connection broken); the next must not.
    let first = store.ping().await;
    let second = store.ping().await;
    assert!(second.is_ok(), "after {first:?}, still {second:?}");
    store.close().await;
    db.cleanup().await;
}
