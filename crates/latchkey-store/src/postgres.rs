//! Connecting to PostgreSQL: `sslmode` and `sslrootcert` from the URL as libpq reads them
//! (TLS by rustls on aws-lc-rs), and connection failures told in one line an operator can act
//! on, naming the certificate problem when TLS is what failed.

use std::str::FromStr;
use std::time::Duration;

use rustls::CertificateError;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

use crate::StoreError;
use crate::conns::Conns;

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection failure is reported against: where, and the TLS settings in force.
struct Target {
    host: String,
    port: u16,
    /// `sslmode` as given (`require` with a root certificate is verified as `verify-ca`).
    mode: PgSslMode,
    /// `sslrootcert` as written (URL, else `PGSSLROOTCERT`); inline PEM shown as such.
    root_cert: Option<String>,
}

impl Target {
    fn settings(&self) -> String {
        let mode = match self.mode {
            PgSslMode::Disable => "disable",
            PgSslMode::Allow => "allow",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyCa => "verify-ca",
            PgSslMode::VerifyFull => "verify-full",
        };
        match &self.root_cert {
            Some(root) => format!("sslmode={mode}, sslrootcert={root}"),
            None => format!("sslmode={mode}"),
        }
    }

    fn at(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn tls(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Tls {
            at: self.at(),
            reason: format!("{reason} ({})", self.settings()),
        }
    }

    fn connect(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Connect {
            at: self.at(),
            reason: reason.to_string(),
        }
    }
}

/// sqlx's TLS asks rustls for the process's default crypto provider. rustls can pick one
/// by itself only when exactly one provider is compiled in; a build that also links `ring`
/// (a dependency of a dependency, or of a test) would make it panic at the first TLS
/// connection. Installing aws-lc-rs — our one crypto library — first removes the doubt; if
/// the program installed a provider already, that one stays.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// Connections to PostgreSQL a process keeps at most.
const MAX_CONNECTIONS: usize = 16;

pub(crate) async fn connect(url: &str) -> Result<Conns<PgConnection>, StoreError> {
    install_crypto_provider();
    let mut options =
        PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidUrl(reason(&e)))?;
    let root_cert = root_cert_setting(url);
    // libpq's default, `prefer`, negotiates TLS whenever the server offers it. Over loopback
    // or a Unix socket that protects nothing (the traffic never leaves the machine) and
    // costs every new connection a TLS handshake — about 45 ms each here, because the
    // handshake's records wait on Nagle's algorithm. Unless `sslmode` was asked for, such a
    // connection stays plain.
    if sslmode_unset(url) && is_local(options.get_host()) {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    let target = Target {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        mode: options.get_ssl_mode(),
        root_cert: root_cert.as_deref().map(shown_root_cert),
    };
    // As libpq does: with a root certificate given, `require` verifies the chain too.
    if matches!(options.get_ssl_mode(), PgSslMode::Require) && root_cert.is_some() {
        options = options.ssl_mode(PgSslMode::VerifyCa);
    }
    if matches!(
        options.get_ssl_mode(),
        PgSslMode::VerifyCa | PgSslMode::VerifyFull
    ) && let Some(path) = root_cert.as_deref().filter(|r| !is_inline_pem(r))
        && let Err(e) = std::fs::File::open(path)
    {
        return Err(target.tls(format_args!("cannot read the sslrootcert file: {e}")));
    }
    let first = connect_first(&options)
        .await
        .map_err(|e| connect_error(e, &target))?;
    Ok(Conns::new(first, options, MAX_CONNECTIONS, ACQUIRE_TIMEOUT))
}

/// The first connection, retried while the server refuses or does not answer (it may be
/// starting beside us) for up to [`ACQUIRE_TIMEOUT`]; TLS, authentication and other answers
/// from the server are final at once.
async fn connect_first(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
    let mut wait = Duration::from_millis(50);
    loop {
        let attempt = tokio::time::timeout_at(deadline, options.connect()).await;
        match attempt {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(sqlx::Error::Io(io)))
                if io.get_ref().is_none_or(|e| !e.is::<rustls::Error>())
                    && tokio::time::Instant::now() + wait < deadline =>
            {
                tracing::debug!(error = %io, "PostgreSQL not reachable yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        }
    }
}

/// Whether neither the URL nor `PGSSLMODE` says which `sslmode` to use.
fn sslmode_unset(url: &str) -> bool {
    let in_url = url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, _)| matches!(&*k, "sslmode" | "ssl-mode"))
    });
    !in_url && std::env::var_os("PGSSLMODE").is_none()
}

/// A host on this machine: a loopback address, `localhost`, or a Unix socket directory.
fn is_local(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// `sslrootcert` as given in the URL's query, else in the environment (sqlx reads both).
fn root_cert_setting(url: &str) -> Option<String> {
    let from_url = url::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .filter(|(k, _)| matches!(&**k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
            .map(|(_, v)| v.into_owned())
            .last()
    });
    from_url.or_else(|| std::env::var("PGSSLROOTCERT").ok())
}

/// sqlx takes a value that looks like PEM as the certificate itself, not a path.
fn is_inline_pem(value: &str) -> bool {
    let v = value.trim();
    v.starts_with("-----BEGIN") && v.ends_with("-----")
}

fn shown_root_cert(value: &str) -> String {
    if is_inline_pem(value) {
        "<inline PEM>".into()
    } else {
        value.to_owned()
    }
}

fn connect_error(err: sqlx::Error, target: &Target) -> StoreError {
    match &err {
        sqlx::Error::Tls(inner) => match inner.downcast_ref::<rustls::Error>() {
            Some(tls) => target.tls(tls_problem(tls, target)),
            None => target.tls(inner),
        },
        // rustls reports a failed handshake as an I/O error wrapping its own error.
        sqlx::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(tls) => target.tls(tls_problem(tls, target)),
            None => target.connect(reason(&err)),
        },
        sqlx::Error::PoolTimedOut => target.connect(format_args!(
            "no connection within {} s; is the server running and reachable?",
            ACQUIRE_TIMEOUT.as_secs()
        )),
        sqlx::Error::Database(db) => target.connect(format_args!("refused: {}", db.message())),
        _ => target.connect(reason(&err)),
    }
}

fn tls_problem(err: &rustls::Error, target: &Target) -> String {
    let rustls::Error::InvalidCertificate(cert) = err else {
        return format!("TLS handshake failed: {err}");
    };
    match cert {
        CertificateError::UnknownIssuer => match &target.root_cert {
            Some(_) => "the server's certificate is not trusted: it is not signed by the \
                        certificate authority in sslrootcert"
                .into(),
            None => "the server's certificate is not trusted: it is not signed by a well-known \
                     certificate authority; give the one that signed it as sslrootcert"
                .into(),
        },
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "the server's certificate does not name the host {}; it names {}",
            target.host,
            presented.join(", ")
        ),
        CertificateError::NotValidForName => format!(
            "the server's certificate does not name the host {}",
            target.host
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("the server's certificate has expired: {cert}")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("the server's certificate is not valid yet: {cert}")
        }
        _ => format!("the server's certificate was refused: {cert}"),
    }
}

/// sqlx's message for an error, without the "error with configuration" wrappings it nests.
fn reason(err: &sqlx::Error) -> String {
    let mut err = err;
    while let sqlx::Error::Configuration(inner) = err {
        match inner.downcast_ref::<sqlx::Error>() {
            Some(nested) => err = nested,
            None => return inner.to_string(),
        }
    }
    err.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cert_comes_from_the_query_decoded() {
        assert_eq!(
            root_cert_setting(
                "postgres://u@h/db?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca%20x.pem"
            )
            .as_deref(),
            Some("/etc/ca x.pem")
        );
    }

    #[test]
    fn loopback_and_sockets_are_local_other_hosts_are_not() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "/run/postgresql",
        ] {
            assert!(is_local(host), "{host}");
        }
        for host in [
            "10.0.0.5",
            "db.example",
            "192.168.1.10",
            "::ffff:10.0.0.1",
            "",
        ] {
            assert!(!is_local(host), "{host}");
        }
    }

    #[test]
    fn sslmode_is_unset_only_when_the_url_does_not_name_it() {
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        assert!(sslmode_unset("postgres://u@127.0.0.1/db"));
        assert!(sslmode_unset(
            "postgres://u@127.0.0.1/db?sslrootcert=%2Fca.pem"
        ));
        assert!(!sslmode_unset("postgres://u@127.0.0.1/db?sslmode=prefer"));
        assert!(!sslmode_unset(
            "postgres://u@127.0.0.1/db?application_name=x&ssl-mode=require"
        ));
    }

    #[test]
    fn inline_pem_is_not_shown() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert!(is_inline_pem(pem));
        assert_eq!(shown_root_cert(pem), "<inline PEM>");
        assert_eq!(shown_root_cert("/ca.pem"), "/ca.pem");
    }
}
