//! oauth2-proxy's flags after `latchkey proxy` (`--upstream=http://app:8080/`,
//! `--email-domain '*'`, `--cookie-secure=false`, `--config-test`, …), lifted out of the
//! arguments before clap parses the rest, as `tsidp_flags.rs` does for tsidp's. Their values
//! are checked by the configuration, which reads them as aliases below our own flags.

use std::ffi::OsString;

use clap::CommandFactory;
use clap::error::ErrorKind;

use super::{Cli, next_flag_value, our_long_options};
use crate::config::{ProxyFlag, oauth2_proxy_flags};

/// What was lifted: oauth2-proxy's flags in order, and whether `--config-test` was given.
#[derive(Debug, Default)]
pub(crate) struct Lifted {
    pub(crate) flags: Vec<ProxyFlag>,
    pub(crate) config_test: bool,
}

/// Lifts oauth2-proxy's flags (pflag's forms: `--name value`, `--name=value`, a boolean alone
/// or as `--name=BOOL`) out of the arguments of `latchkey proxy`. Our own options keep their
/// meaning (`--config` is Latchkey's file, which may also be an oauth2-proxy configuration);
/// another `--name` after `proxy` is refused, listing the flags taken. Arguments of other
/// commands, and anything after `--`, are left alone.
pub(crate) fn take_proxy_flags(
    args: Vec<OsString>,
) -> Result<(Vec<OsString>, Lifted), clap::Error> {
    let ours = our_long_options();
    let theirs: Vec<(&str, bool)> = oauth2_proxy_flags().collect();
    let mut kept = Vec::with_capacity(args.len());
    let mut lifted = Lifted::default();
    let mut args = args.into_iter();
    kept.extend(args.next()); // the program name
    let mut in_proxy = false;
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str().map(str::to_owned) else {
            kept.push(arg);
            continue;
        };
        if text == "--" {
            kept.push(arg);
            kept.extend(args.by_ref());
            break;
        }
        let Some(flag) = text.strip_prefix("--") else {
            if !in_proxy && !text.starts_with('-') {
                if text != "proxy" {
                    // Another command: nothing of oauth2-proxy's to take.
                    kept.push(arg);
                    kept.extend(args.by_ref());
                    break;
                }
                in_proxy = true;
            }
            kept.push(arg);
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        if let Some(&(_, takes_next)) = ours.iter().find(|(long, _)| long == name) {
            kept.push(arg);
            if takes_next && inline.is_none() {
                kept.extend(args.next());
            }
            continue;
        }
        if !in_proxy {
            kept.push(arg);
            continue;
        }
        if name == "config-test" {
            lifted.config_test = true;
            continue;
        }
        let boolean = match theirs.iter().find(|(flag, _)| *flag == name) {
            Some(&(_, boolean)) => boolean,
            None if name
                .strip_suffix("-file")
                .is_some_and(|base| matches!(base, "client-secret" | "cookie-secret")) =>
            {
                false
            }
            None if matches!(name, "help" | "version") => {
                kept.push(arg);
                continue;
            }
            None => {
                return Err(Cli::command().error(
                    ErrorKind::UnknownArgument,
                    format!(
                        "unknown flag --{name}: `latchkey proxy` takes Latchkey's options and \
                         these of oauth2-proxy's: --{}, --config-test (docs/proxy.md says what \
                         the others became)",
                        theirs
                            .iter()
                            .map(|(flag, _)| *flag)
                            .collect::<Vec<_>>()
                            .join(", --")
                    ),
                ));
            }
        };
        let value = match (inline, boolean) {
            (Some(value), _) => value,
            (None, true) => "true".to_owned(),
            (None, false) => next_flag_value(&mut args, &format!("--{name}"))?,
        };
        lifted.flags.push(ProxyFlag {
            name: name.to_owned(),
            value,
        });
    }
    Ok((kept, lifted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::iter::once("latchkey").chain(args.iter().copied()))
    }

    #[test]
    fn oauth2_proxy_flags_after_proxy() {
        let cli = parse(&[
            "--data-dir",
            "d",
            "proxy",
            "--upstream=http://127.0.0.1:8080/",
            "--upstream",
            "http://127.0.0.1:9090/api/",
            "--email-domain",
            "*",
            "--cookie-secure=false",
            "--skip-provider-button",
            "--client-secret-file",
            "/run/secret",
            "--log-level",
            "debug",
            "--config-test",
        ])
        .unwrap();
        assert_eq!(cli.cmd(), &Command::Proxy);
        assert!(cli.config_test);
        assert_eq!(cli.log_level.as_deref(), Some("debug"));
        let flags: Vec<(&str, &str)> = cli
            .proxy_flags
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
            .collect();
        assert_eq!(
            flags,
            [
                ("upstream", "http://127.0.0.1:8080/"),
                ("upstream", "http://127.0.0.1:9090/api/"),
                ("email-domain", "*"),
                ("cookie-secure", "false"),
                ("skip-provider-button", "true"),
                ("client-secret-file", "/run/secret"),
            ]
        );
    }

    #[test]
    fn only_after_proxy_and_unknown_ones_refused() {
        assert!(parse(&["idp", "--upstream", "http://x/"]).is_err());
        assert!(parse(&["--upstream", "http://x/", "proxy"]).is_err());
        let err = parse(&["proxy", "--htpasswd-file=/etc/htpasswd"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown flag --htpasswd-file") && err.contains("--upstream"),
            "{err}"
        );
        assert!(parse(&["proxy", "--help"]).is_err_and(|e| e.kind() == ErrorKind::DisplayHelp));
        let err = parse(&["proxy", "--client-id"]).unwrap_err().to_string();
        assert!(err.contains("flag needs an argument: --client-id"), "{err}");
    }
}
