//! Other programs' names for our settings: Pocket ID's `APP_URL` and `ENCRYPTION_KEY`, tsidp's
//! `TS_*` / `TSIDP_*` variables and its Go-style flags. They are read below our own names in the
//! same layer; where tsidp's count at all is [`super::tsidp`]'s business.

use anyhow::Result;
use toml::Value;

use super::Overrides;
use super::keys::{Key, Kind, find_key, parse_text};

/// Whose name an [`Alias`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    PocketId,
    /// Tailscale's tsidp: read only where the tsidp role runs ([`super::tsidp::tsidp_in_scope`]).
    Tsidp,
}

impl Origin {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Origin::PocketId => "Pocket ID",
            Origin::Tsidp => "tsidp",
        }
    }
}

/// How an alias's text becomes the key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Convert {
    /// Parsed like the key's own variable.
    Same,
    /// A boolean as Go's `strconv.ParseBool` reads it (`1`, `t`, `true`, `0`, `f`, `FALSE`, …).
    GoBool,
    /// A port: `127.0.0.1:PORT`, where tsidp listens with `-local-port` (`localhost:PORT`)
    /// and where `tailscale serve` reaches it. `-1`, tsidp's "off", leaves the key unset.
    LoopbackPort,
    /// tsidp's log levels (`debug`, `info`, `warn`, `error`) as a `tracing` filter.
    TsidpLog,
}

/// A name of other software accepted for one of our settings, below our own names in the
/// same layer: `LATCHKEY_*` variables beat alias variables, our flags beat alias flags.
pub(super) struct Alias {
    /// Environment variable. Secret keys also accept it with `_FILE`.
    pub(super) env: &'static str,
    /// Go-style flag of `latchkey tsidp` (without its dash), given as a [`TsidpFlag`].
    pub(super) flag: Option<&'static str>,
    pub(super) sets: Sets,
    pub(super) convert: Convert,
    pub(super) origin: Origin,
}

/// What an [`Alias`] sets.
#[derive(Clone, Copy, Debug)]
pub(super) enum Sets {
    /// This key.
    Key(&'static str),
    /// Nothing: Latchkey has no such setting. The value is checked, and when it is `when`,
    /// `notice` is logged at startup ([`super::tsidp::tsidp_notices`]).
    Nothing { when: bool, notice: &'static str },
}

pub(super) const ALIASES: &[Alias] = &[
    Alias {
        env: "APP_URL",
        flag: None,
        sets: Sets::Key("idp.public_url"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "ENCRYPTION_KEY",
        flag: None,
        sets: Sets::Key("encryption_key"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "TS_STATE_DIR",
        flag: Some("dir"),
        sets: Sets::Key("data_dir"),
        convert: Convert::Same,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TS_HOSTNAME",
        flag: Some("hostname"),
        sets: Sets::Key("tsidp.hostname"),
        convert: Convert::Same,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_PORT",
        flag: Some("port"),
        sets: Sets::Key("tsidp.https_port"),
        convert: Convert::Same,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_LOCAL_PORT",
        flag: Some("local-port"),
        sets: Sets::Key("tsidp.listen"),
        convert: Convert::LoopbackPort,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_ENABLE_STS",
        flag: Some("enable-sts"),
        sets: Sets::Key("tsidp.enable_sts"),
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_LOG",
        flag: Some("log"),
        sets: Sets::Key("log_level"),
        convert: Convert::TsidpLog,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_USE_FUNNEL",
        flag: Some("funnel"),
        sets: Sets::Nothing {
            when: true,
            notice: "Latchkey does not set up Funnel itself: run `tailscale funnel` in front of \
                     the tsidp listener. Funnel rules always apply: sign-in and client \
                     registration are refused over Funnel, tokens and discovery are not.",
        },
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_USE_LOCAL_TAILSCALED",
        flag: Some("use-local-tailscaled"),
        sets: Sets::Nothing {
            when: false,
            notice: "Latchkey always uses the local tailscaled (`tsidp.tailscaled_socket`); it \
                     has no tailnet node of its own.",
        },
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
];

/// tsidp's variables for joining the tailnet as its own node (tsnet), which Latchkey does not
/// do: a warning says so when the tsidp role runs. Not an error: Tailscale's own container
/// reads the same names, so they may well be meant for a tailscaled beside us.
pub(super) const TSNET_ONLY_ENV: &[&str] = &["TS_AUTHKEY", "TS_ADVERTISE_TAGS"];

/// One of tsidp's flags as given to `latchkey tsidp`: its name (an [`Alias`]'s `flag`) and
/// its value as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsidpFlag {
    pub name: &'static str,
    pub value: String,
}

/// The alias a variable name is, and whether it is the `_FILE` form of a secret's alias.
pub(super) fn env_alias(name: &str) -> Option<(&'static Alias, bool)> {
    let file_form = name.strip_suffix("_FILE");
    ALIASES.iter().find_map(|alias| {
        if alias.env == name {
            return Some((alias, false));
        }
        let secret = alias.key().is_some_and(|key| key.secret);
        (secret && file_form == Some(alias.env)).then_some((alias, true))
    })
}

impl Alias {
    pub(super) fn key(&self) -> Option<&'static Key> {
        match self.sets {
            Sets::Key(path) => Some(find_key(path).expect("aliases name known keys")),
            Sets::Nothing { .. } => None,
        }
    }

    /// The value `text` gives the key; `Ok(None)` leaves it unset.
    pub(super) fn convert(&self, kind: Kind, text: &str) -> Result<Option<Value>, String> {
        match self.convert {
            Convert::Same => parse_text(kind, text).map(Some),
            Convert::GoBool => go_bool(text).map(|on| Some(Value::Boolean(on))),
            Convert::LoopbackPort => match text.trim() {
                "-1" => Ok(None),
                port => port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port != 0)
                    .map(|port| Some(Value::String(format!("127.0.0.1:{port}"))))
                    .ok_or_else(|| format!("expected a port number (1 to 65535), got {text:?}")),
            },
            Convert::TsidpLog => match text.trim() {
                // tsidp's debug level is its own messages, not every library's.
                "debug" => Ok(Some(Value::String("info,latchkey=debug".into()))),
                level @ ("info" | "warn" | "error") => Ok(Some(Value::String(level.into()))),
                _ => Err(format!(
                    "expected one of debug, info, warn, error, got {text:?}"
                )),
            },
        }
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it.
pub(super) fn go_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "expected a boolean (true, false, 1 or 0), got {text:?}"
        )),
    }
}

/// Where and how an alias is given, if it is: a tsidp flag wins over the environment.
pub(super) fn alias_given<'a>(
    overrides: &'a Overrides,
    env: &'a [(String, String)],
    alias: &Alias,
) -> Option<(String, &'a str)> {
    let from_flag = overrides
        .tsidp_flags
        .iter()
        .rev()
        .find(|flag| Some(flag.name) == alias.flag)
        .map(|flag| (format!("-{}", flag.name), flag.value.as_str()));
    let from_env = || {
        env.iter()
            .rev()
            .find(|(name, value)| name == alias.env && !value.is_empty())
            .map(|(name, value)| (format!("environment variable {name}"), value.as_str()))
    };
    from_flag.or_else(from_env)
}
