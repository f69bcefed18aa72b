//! The tsidp issuer when none is configured. tsidp names itself after the tailnet it is on
//! (`https://<hostname>.<MagicDNS suffix>`, or this machine's name with the local
//! tailscaled); only tailscaled knows that name, so it is asked at startup, once.
//! `check-config` does not ask: it says the issuer will be derived.

use anyhow::{Context, Result, bail};
use latchkey_tsidp::LocalApi;
use latchkey_tsidp::localapi::{DEFAULT_SOCKET, SelfStatus};

use crate::config::{Config, port_suffix};

/// `config` with the tsidp issuer filled in, when the tsidp role runs and its issuer is to
/// be derived; otherwise `config` unchanged.
pub async fn resolve(config: &Config) -> Result<Config> {
    let mut config = config.clone();
    let rc = &mut config.tsidp;
    if !(rc.enabled && rc.issuer_from_tailnet) {
        return Ok(config);
    }
    let socket = rc
        .tailscaled_socket
        .clone()
        .unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
    let status = LocalApi::new(&socket)
        .self_status()
        .await
        .with_context(|| {
            format!(
                "tsidp: no issuer is configured (`tsidp.public_url`), and asking tailscaled at \
                 {socket} for this tailnet's name failed"
            )
        })?;
    rc.public_url = issuer(&status, rc.hostname.as_deref(), rc.https_port)?;

    let port = rc.https_port.unwrap_or(443);
    // A hostname other than this machine's is a Tailscale Service of that name.
    let serve = match &rc.hostname {
        Some(name) if !status.dns_name.starts_with(&format!("{name}.")) => {
            format!("tailscale serve --service=svc:{name} --https={port}")
        }
        _ => format!("tailscale serve --bg --https={port}"),
    };
    tracing::info!(
        issuer = %rc.public_url,
        "tsidp: issuer from tailscaled; expose it on the tailnet with `{serve} http://{}`",
        rc.listen
    );
    Ok(config)
}

/// The issuer tsidp would have on this tailnet: `https://HOSTNAME.<suffix>` for a hostname,
/// else this machine's MagicDNS name, with `:PORT` unless the port is 443.
pub(crate) fn issuer(
    status: &SelfStatus,
    hostname: Option<&str>,
    port: Option<u16>,
) -> Result<String> {
    let host = match hostname {
        _ if status.magic_dns_suffix.is_empty() && status.dns_name.is_empty() => {
            bail!(
                "tsidp: tailscaled (state {:?}) does not know this node's tailnet name yet; log it \
                 in (`tailscale up`), or set `tsidp.public_url`",
                status.backend_state
            )
        }
        Some(name) if status.magic_dns_suffix.is_empty() => bail!(
            "tsidp: tailscaled reports no MagicDNS suffix, so `{name}.<tailnet>` cannot be named; \
             turn MagicDNS on for the tailnet, or set `tsidp.public_url`"
        ),
        Some(name) => format!("{name}.{}", status.magic_dns_suffix),
        None if status.dns_name.is_empty() => bail!(
            "tsidp: tailscaled reports no MagicDNS name for this machine; turn MagicDNS on for \
             the tailnet, or set `tsidp.public_url`"
        ),
        None => status.dns_name.clone(),
    };
    Ok(format!("https://{host}{}", port_suffix(port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(dns_name: &str, suffix: &str) -> SelfStatus {
        SelfStatus {
            backend_state: "Running".into(),
            dns_name: dns_name.into(),
            magic_dns_suffix: suffix.into(),
        }
    }

    #[test]
    fn hostname_joins_the_tailnet_suffix() {
        let st = status("box.tail1234.ts.net", "tail1234.ts.net");
        assert_eq!(
            issuer(&st, Some("idp"), None).unwrap(),
            "https://idp.tail1234.ts.net"
        );
        assert_eq!(
            issuer(&st, Some("idp"), Some(443)).unwrap(),
            "https://idp.tail1234.ts.net"
        );
        assert_eq!(
            issuer(&st, Some("idp"), Some(8443)).unwrap(),
            "https://idp.tail1234.ts.net:8443"
        );
    }

    #[test]
    fn without_hostname_the_machine_name_is_used() {
        let st = status("box.tail1234.ts.net", "tail1234.ts.net");
        assert_eq!(
            issuer(&st, None, Some(10443)).unwrap(),
            "https://box.tail1234.ts.net:10443"
        );
    }

    #[test]
    fn missing_names_are_clear_errors() {
        let logged_out = SelfStatus {
            backend_state: "NeedsLogin".into(),
            ..SelfStatus::default()
        };
        let err = issuer(&logged_out, Some("idp"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("NeedsLogin") && err.contains("tsidp.public_url"),
            "{err}"
        );
        let err = issuer(&logged_out, None, None).unwrap_err().to_string();
        assert!(err.contains("tailscale up"), "{err}");

        let no_suffix = status("box", "");
        let err = issuer(&no_suffix, Some("idp"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("MagicDNS"), "{err}");
        let no_name = status("", "tail1234.ts.net");
        let err = issuer(&no_name, None, None).unwrap_err().to_string();
        assert!(err.contains("MagicDNS name"), "{err}");
    }
}
