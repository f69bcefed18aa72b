//! tsidp's Go-style flags after `latchkey tsidp` (`-dir D`, `-port=443`, `-funnel`, …), which
//! clap cannot parse: [`take_tsidp_flags`] lifts them out of the arguments before clap sees
//! them. Their values are checked by the configuration, which reads them as aliases.

use std::ffi::OsString;

use clap::CommandFactory;
use clap::error::ErrorKind;

use super::{Cli, next_flag_value, our_long_options};
use crate::config::TsidpFlag;

/// tsidp's flags that `latchkey tsidp` accepts, and whether each is a boolean (given alone or
/// as `-name=BOOL`, never with the value as the next argument, as Go's `flag` package has it).
/// The configuration maps each one (see `config::ALIASES`).
pub(crate) const TSIDP_FLAGS: &[(&str, bool)] = &[
    ("dir", false),
    ("hostname", false),
    ("port", false),
    ("local-port", false),
    ("enable-sts", true),
    ("log", false),
    ("funnel", true),
    ("use-local-tailscaled", true),
];

/// Lifts tsidp's Go-style flags out of the arguments of `latchkey tsidp`, leaving the rest to
/// clap. Go's `flag` forms are understood: `-name`, `--name`, `-name=value`, and `-name value`
/// for non-booleans. Our own options keep their meaning (and their values are skipped over),
/// so `--enable-sts` stays ours; any other single-dash word after `tsidp` is refused, as Go
/// refuses an unknown flag. Arguments of other commands, and anything after `--`, are left
/// alone.
pub(crate) fn take_tsidp_flags(
    args: Vec<OsString>,
) -> Result<(Vec<OsString>, Vec<TsidpFlag>), clap::Error> {
    let ours = our_long_options();
    let error = |kind, message: String| Cli::command().error(kind, message);

    let mut kept = Vec::with_capacity(args.len());
    let mut flags = Vec::new();
    let mut args = args.into_iter();
    kept.extend(args.next()); // the program name
    let mut in_tsidp = false;
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
        if !text.starts_with('-') || text == "-" {
            if !in_tsidp && text != "tsidp" {
                // Another command: nothing of tsidp's to take.
                kept.push(arg);
                kept.extend(args.by_ref());
                break;
            }
            in_tsidp = true;
            kept.push(arg);
            continue;
        }
        let dashes = if text.starts_with("--") { 2 } else { 1 };
        let (name, inline) = match text[dashes..].split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (&text[dashes..], None),
        };
        if let Some(&(_, takes_next)) = ours.iter().find(|(long, _)| long == name)
            && dashes == 2
        {
            kept.push(arg);
            if takes_next && inline.is_none() {
                kept.extend(args.next());
            }
            continue;
        }
        let tsidp_flag = TSIDP_FLAGS.iter().find(|(flag, _)| *flag == name);
        match tsidp_flag {
            Some(&(flag, boolean)) if in_tsidp => {
                let value = match (inline, boolean) {
                    (Some(value), _) => value.to_owned(),
                    (None, true) => "true".to_owned(),
                    (None, false) => next_flag_value(&mut args, &format!("-{flag}"))?,
                };
                flags.push(TsidpFlag { name: flag, value });
            }
            None if in_tsidp && dashes == 1 && name.len() > 1 => {
                let known: Vec<String> = TSIDP_FLAGS
                    .iter()
                    .map(|(flag, _)| format!("-{flag}"))
                    .collect();
                return Err(error(
                    ErrorKind::UnknownArgument,
                    format!(
                        "unknown flag {text}; of tsidp's flags, `latchkey tsidp` takes {}",
                        known.join(", ")
                    ),
                ));
            }
            _ => kept.push(arg),
        }
    }
    Ok((kept, flags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::iter::once("latchkey").chain(args.iter().copied()))
    }

    type Split = (Vec<String>, Vec<(&'static str, String)>);

    /// The arguments left for clap, and tsidp's flags as (name, value).
    fn split(args: &[&str]) -> Result<Split, String> {
        let args = std::iter::once("latchkey").chain(args.iter().copied());
        let (kept, flags) =
            take_tsidp_flags(args.map(OsString::from).collect()).map_err(|e| e.to_string())?;
        let kept = kept
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect();
        Ok((kept, flags.into_iter().map(|f| (f.name, f.value)).collect()))
    }

    fn owned(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn tsidp_flags_in_every_go_form() {
        let (kept, flags) = split(&[
            "tsidp",
            "-dir",
            "/data",
            "--hostname",
            "idp",
            "-port=443",
            "--local-port=8080",
            "-enable-sts",
            "-funnel=false",
            "--use-local-tailscaled",
            "-log",
            "debug",
        ])
        .unwrap();
        assert_eq!(kept, owned(&["tsidp"]));
        assert_eq!(
            flags,
            vec![
                ("dir", "/data".to_owned()),
                ("hostname", "idp".to_owned()),
                ("port", "443".to_owned()),
                ("local-port", "8080".to_owned()),
                ("enable-sts", "true".to_owned()),
                ("funnel", "false".to_owned()),
                ("use-local-tailscaled", "true".to_owned()),
                ("log", "debug".to_owned()),
            ]
        );
        // A non-boolean takes the next argument whatever it looks like, as in Go.
        let (_, flags) = split(&["tsidp", "-local-port", "-1", "-hostname", "-x"]).unwrap();
        assert_eq!(
            flags,
            vec![
                ("local-port", "-1".to_owned()),
                ("hostname", "-x".to_owned())
            ]
        );
    }

    #[test]
    fn our_options_keep_their_meaning_beside_tsidp_flags() {
        let (kept, flags) = split(&[
            "--config",
            "tsidp",
            "--log-level=warn",
            "tsidp",
            "--data-dir",
            "-port",
            "--enable-sts",
            "-port",
            "8443",
            "-h",
        ])
        .unwrap();
        // `--config tsidp` is a value, `-port` after `--data-dir` too; `--enable-sts` is ours.
        assert_eq!(
            kept,
            owned(&[
                "--config",
                "tsidp",
                "--log-level=warn",
                "tsidp",
                "--data-dir",
                "-port",
                "--enable-sts",
                "-h"
            ])
        );
        assert_eq!(flags, vec![("port", "8443".to_owned())]);

        let cli = parse(&["tsidp", "-enable-sts", "--enable-sts=false", "-dir", "d"]).unwrap();
        assert_eq!(cli.enable_sts.as_deref(), Some("false"));
        assert_eq!(cli.cmd(), &Command::Tsidp);
        assert_eq!(cli.tsidp_flags.len(), 2);
        assert_eq!(
            parse(&["tsidp", "--enable-sts"])
                .unwrap()
                .enable_sts
                .as_deref(),
            Some("true")
        );
    }

    #[test]
    fn tsidp_flags_only_after_tsidp() {
        // Other commands and arguments after `--` are left to clap, which refuses them.
        for args in [
            &["-port", "443", "tsidp"][..],
            &["idp", "-port", "443"][..],
            &["clients", "show", "-dir"][..],
            &["tsidp", "--", "-port", "1"][..],
        ] {
            let (kept, flags) = split(args).unwrap();
            assert_eq!(kept, owned(args), "{args:?}");
            assert!(flags.is_empty(), "{args:?}");
            assert!(parse(args).is_err(), "{args:?}");
        }
        assert!(parse(&["serve", "-enable-sts"]).is_err());
    }

    #[test]
    fn bad_tsidp_flags_are_refused_clearly() {
        let err = split(&["tsidp", "-port"]).unwrap_err();
        assert!(err.contains("flag needs an argument: -port"), "{err}");
        for unknown in ["-debug-tsnet", "-prot=1", "-verbose"] {
            let err = split(&["tsidp", unknown]).unwrap_err();
            assert!(
                err.contains(&format!("unknown flag {unknown}")) && err.contains("-local-port"),
                "{err}"
            );
        }
        // Values are checked by the configuration, which names the flag.
        let cli = parse(&["tsidp", "-port", "x"]).unwrap();
        assert_eq!(cli.tsidp_flags[0].value, "x");
    }
}
