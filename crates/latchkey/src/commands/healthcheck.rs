//! `latchkey healthcheck`: for container health checks, without an HTTP client library.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::role::Role;
use anyhow::{Context, Result, anyhow, bail};

use crate::config::Config;

/// GET /healthz on `role`'s listener (or `url`); exit status tells the result.
pub async fn healthcheck(config: &Config, role: Role, url: Option<&str>) -> Result<()> {
    let (addr, host, path) = match url {
        Some(u) => {
            let parsed = url::Url::parse(u).with_context(|| format!("--url {u:?}"))?;
            if parsed.scheme() != "http" {
                bail!("healthcheck speaks plain http only");
            }
            let host = parsed
                .host_str()
                .ok_or_else(|| anyhow!("--url has no host"))?
                .to_owned();
            let port = parsed.port_or_known_default().unwrap_or(80);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .ok_or_else(|| anyhow!("cannot resolve {host}"))?;
            (addr, host, parsed.path().to_owned())
        }
        None => {
            let mut addr = config.role(role).listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            (addr, addr.ip().to_string(), "/healthz".to_owned())
        }
    };
    tokio::task::spawn_blocking(move || probe(addr, &host, &path))
        .await
        .context("health check task")?
}

fn probe(addr: SocketAddr, host: &str, path: &str) -> Result<()> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut buf)?;
    let head = String::from_utf8_lossy(&buf);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        println!("healthy");
        Ok(())
    } else {
        bail!("unhealthy: {addr}{path} answered {status:?}")
    }
}
