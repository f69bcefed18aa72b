//! Command line: `latchkey [GLOBAL OPTIONS] [COMMAND]`.
//!
//! The global options are configuration settings of the top layer; they are handed to
//! [`crate::config::load`] as [`Overrides`] rather than read through clap's `env` support, so
//! that flag > environment > file > default holds and unknown `LATCHKEY_*` variables are caught.
//!
//! `latchkey tsidp` also takes tsidp's Go-style flags (`-dir D`, `-port=443`, `-funnel`, …),
//! which clap cannot parse: `tsidp_flags.rs` lifts them out of the arguments first, and the
//! configuration reads them as aliases below our own flags.

pub(crate) mod proxy_flags;
pub(crate) mod tsidp_flags;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::{Flags, Overrides, ProxyFlag, Run, TsidpFlag};
use crate::role::Role;
use proxy_flags::take_proxy_flags;
use tsidp_flags::take_tsidp_flags;

#[derive(Debug, Default, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Passwordless single sign-on for homelabs and small teams",
    after_help = "Every option can also be set in the config file or as a LATCHKEY_* environment \
                  variable, e.g. LATCHKEY_DATA_DIR. Without a command, `serve` runs."
)]
pub struct Cli {
    /// TOML configuration file [env: LATCHKEY_CONFIG]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,
    /// Directory for the database, generated keys and other state [default: ./data]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub data_dir: Option<String>,
    /// sqlite://PATH or postgres://… [default: sqlite://<data-dir>/latchkey.db]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub database_url: Option<String>,
    /// Listen address (IP:port) of the role being run (idp unless the command is `tsidp` or `proxy`)
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        help_heading = "Global options"
    )]
    pub listen: Option<String>,
    /// Public URL (OIDC issuer) of the role being run (idp unless the command is `tsidp` or `proxy`)
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub public_url: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        help_heading = "Global options"
    )]
    pub log_format: Option<String>,
    /// Log filter, e.g. info or warn,latchkey=debug [default: info]
    #[arg(
        long,
        global = true,
        value_name = "FILTER",
        help_heading = "Global options"
    )]
    pub log_level: Option<String>,
    /// tailscaled's LocalAPI socket, for the tsidp role [default: /var/run/tailscale/tailscaled.sock]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Global options"
    )]
    pub tailscaled_socket: Option<String>,
    /// RFC 8693 token exchange at the tsidp role's /token: --enable-sts or --enable-sts=false [default: false]
    #[arg(
        long,
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        help_heading = "Global options"
    )]
    pub enable_sts: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// tsidp's flags given to `latchkey tsidp`, in order.
    #[arg(skip)]
    pub tsidp_flags: Vec<TsidpFlag>,

    /// oauth2-proxy's flags given to `latchkey proxy`, in order.
    #[arg(skip)]
    pub proxy_flags: Vec<ProxyFlag>,

    /// oauth2-proxy's `--config-test` after `latchkey proxy`: check the configuration and exit.
    #[arg(skip)]
    pub config_test: bool,
}

impl Cli {
    /// Parses the process arguments, exiting with clap's message (and status 2) when they are
    /// wrong, or after printing help or the version.
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// Parses `args` (program name first), tsidp's Go-style flags included.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let (args, tsidp_flags) = take_tsidp_flags(args.into_iter().map(Into::into).collect())?;
        let (args, lifted) = take_proxy_flags(args)?;
        let mut cli = Cli::try_parse_from(args)?;
        cli.tsidp_flags = tsidp_flags;
        cli.proxy_flags = lifted.flags;
        cli.config_test = lifted.config_test;
        Ok(cli)
    }

    /// The command to run; `serve` when none was given.
    pub fn cmd(&self) -> &Command {
        static SERVE: Command = Command::Serve;
        self.command.as_ref().unwrap_or(&SERVE)
    }

    /// What the command line gives the configuration.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            run: self.cmd().run(),
            config_file: self.config.clone(),
            flags: Flags {
                data_dir: self.data_dir.clone(),
                database_url: self.database_url.clone(),
                listen: self.listen.clone(),
                public_url: self.public_url.clone(),
                log_format: self.log_format.clone(),
                log_level: self.log_level.clone(),
                tailscaled_socket: self.tailscaled_socket.clone(),
                enable_sts: self.enable_sts.clone(),
            },
            tsidp_flags: self.tsidp_flags.clone(),
            proxy_flags: self.proxy_flags.clone(),
        }
    }
}

/// Our long options, and whether each takes the next argument as its value: lifting another
/// program's flags out of the arguments steps over ours and their values.
pub(crate) fn our_long_options() -> Vec<(String, bool)> {
    Cli::command()
        .get_arguments()
        .filter_map(|arg| {
            let takes_next = arg.get_action().takes_values() && !arg.is_require_equals_set();
            arg.get_long().map(|long| (long.to_owned(), takes_next))
        })
        .collect()
}

/// The value of another program's flag given as the next argument (`-name value`).
pub(crate) fn next_flag_value(
    args: &mut impl Iterator<Item = OsString>,
    spelled: &str,
) -> Result<String, clap::Error> {
    match args.next().map(OsString::into_string) {
        Some(Ok(value)) => Ok(value),
        Some(Err(_)) => Err(Cli::command().error(
            ErrorKind::InvalidUtf8,
            format!("the value of {spelled} is not valid UTF-8"),
        )),
        None => Err(Cli::command().error(
            ErrorKind::InvalidValue,
            format!("flag needs an argument: {spelled}"),
        )),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run every enabled role (the default)
    Serve,
    /// Run only the idp role, whatever the configuration enables
    Idp,
    /// Run only the tsidp role, whatever the configuration enables
    #[command(
        after_help = "tsidp's own flags work too, in Go's forms (-name value, -name=value, \
                            --name): -dir, -hostname, -port, -local-port, -enable-sts, -log, \
                            -funnel, -use-local-tailscaled. See docs/tsidp.md."
    )]
    Tsidp,
    /// Run only the auth proxy role (oauth2-proxy's job), whatever the configuration enables
    #[command(
        after_help = "oauth2-proxy's own flags work too: --oidc-issuer-url, --client-id, \
                      --client-secret[-file], --redirect-url, --upstream, --email-domain, \
                      --http-address, --cookie-*, --skip-auth-route, --set-xauthrequest, … and \
                      --config-test; its OAUTH2_PROXY_* variables as well. See docs/proxy.md."
    )]
    Proxy,
    /// Validate the configuration and print a summary
    CheckConfig,
    /// Check that a running server is healthy (for container health checks)
    Healthcheck {
        /// URL to probe [default: the primary role's listen address]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Manage signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage OIDC clients
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage the directory's people (their groups and custom claims)
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage the directory's groups
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Print a fresh one-time link that creates the first administrator (only while there is none)
    SetupLink,
    /// Print the version
    Version,
}

impl Command {
    /// What runs, as the configuration sees it.
    pub fn run(&self) -> Run {
        match self {
            Command::Serve | Command::CheckConfig => Run::Enabled,
            Command::Idp => Run::Only(Role::Idp),
            Command::Tsidp => Run::Only(Role::Tsidp),
            Command::Proxy => Run::Only(Role::Proxy),
            Command::Healthcheck { .. }
            | Command::Keys(_)
            | Command::Clients(_)
            | Command::Users(_)
            | Command::Groups(_)
            | Command::SetupLink
            | Command::Version => Run::OneShot,
        }
    }

    /// The role `--listen` / `--public-url` (and their file and env forms) apply to.
    pub fn primary_role(&self) -> Role {
        self.run().primary_role()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum KeysCommand {
    /// Generate a new signing key; the previous one stays published until it expires
    Rotate {
        /// Signature algorithm [default: chosen by the server]
        #[arg(long, value_enum, ignore_case = true)]
        alg: Option<Alg>,
        /// Role whose key to rotate [default: every enabled role]
        #[arg(long, value_parser = role_parser())]
        role: Option<Role>,
    },
    /// List signing keys
    List {
        /// Only this role's keys
        #[arg(long, value_parser = role_parser())]
        role: Option<Role>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints its ID and, for confidential clients, its secret
    Create {
        /// Role (issuer) the client belongs to
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// Display name
        #[arg(long)]
        name: String,
        /// Allowed redirect URI (repeatable)
        #[arg(long = "redirect-uri", value_name = "URI", required = true)]
        redirect_uris: Vec<String>,
        /// Allowed post-logout redirect URI (repeatable)
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Public client (no secret; PKCE required)
        #[arg(long)]
        public: bool,
        /// ID token signature algorithm [default: chosen by the server]
        #[arg(long, value_enum, ignore_case = true)]
        alg: Option<Alg>,
        /// Do not ask people to consent before the client signs them in (idp)
        #[arg(long)]
        skip_consent: bool,
        /// Only members of this group may use the client (repeatable; idp) [default: everyone]
        #[arg(long = "allowed-group", value_name = "NAME")]
        allowed_groups: Vec<String>,
        /// Where "My apps" opens the application (idp)
        #[arg(long, value_name = "URL")]
        launch_url: Option<String>,
        /// Where the client receives back-channel logout tokens when a person's session ends
        /// (idp; OpenID Connect Back-Channel Logout 1.0)
        #[arg(long, value_name = "URL")]
        backchannel_logout_uri: Option<String>,
        /// People who signed in longer ago than this (e.g. 30m, 8h) sign in again for this
        /// client (idp) [default: the issuer's session duration]
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
        session_duration: Option<u64>,
        /// Within this time (e.g. 10s, at most 60s) a used refresh token presented again
        /// returns the same successor instead of revoking the grant [default: off]
        #[arg(long, value_name = "DURATION", value_parser = parse_leeway)]
        refresh_reuse_leeway: Option<u64>,
    },
    /// List clients
    List {
        /// Only this role's clients
        #[arg(long, value_parser = role_parser())]
        role: Option<Role>,
    },
    /// Show one client
    Show { id: String },
    /// Delete a client
    Delete { id: String },
    /// Replace a confidential client's secret and print the new one
    RotateSecret { id: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum UsersCommand {
    /// Add a person to the directory
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// [default: first and last name, or the username]
        #[arg(long)]
        display_name: Option<String>,
        /// An administrator of the idp role
        #[arg(long)]
        admin: bool,
        /// The e-mail address is known to be theirs (`email_verified` is true in tokens;
        /// Headscale, for one, requires it by default)
        #[arg(long)]
        email_verified: bool,
    },
    /// List everyone
    List,
    /// Show one person with their groups and custom claims
    Show {
        /// Username, e-mail address or id
        user: String,
    },
    /// Remove a person (with their memberships and claims)
    Remove { user: String },
    /// Stop a person's directory entry from counting (no sign-in, no enrichment)
    Disable { user: String },
    /// Undo `disable`
    Enable { user: String },
    /// Set a custom claim: VALUE is JSON when it parses as JSON, else text
    SetClaim {
        user: String,
        name: String,
        value: String,
    },
    /// Remove a custom claim
    UnsetClaim { user: String, name: String },
    /// Print a one-time sign-in link for a person (works once; they can then add a passkey)
    LoginLink {
        user: String,
        /// How long the link works, e.g. 15m, 2h, 1d
        #[arg(long, default_value = "15m", value_parser = parse_ttl)]
        ttl: u64,
    },
}

/// A refresh reuse leeway: a duration of at most 60 seconds.
fn parse_leeway(s: &str) -> Result<u64, String> {
    match parse_ttl(s)? {
        secs if secs <= 60 => Ok(secs),
        _ => Err(format!("{s:?}: the leeway may be at most 60s")),
    }
}

/// `15m`, `2h`, `1d`, `90s` or plain seconds, as seconds (at most 7 days).
fn parse_ttl(s: &str) -> Result<u64, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 15m, 2h or 1d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 || secs > 7 * 86400 {
        return Err(format!("{s:?}: a link may last from 1 second to 7 days"));
    }
    Ok(secs)
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum GroupsCommand {
    /// Create a group (its name is what the `groups` claim carries)
    Add {
        name: String,
        #[arg(long)]
        friendly_name: Option<String>,
    },
    /// List every group
    List,
    /// Delete a group (with its memberships and claims)
    Remove { name: String },
    /// Put a person in a group
    AddMember { group: String, user: String },
    /// Take a person out of a group
    RemoveMember { group: String, user: String },
    /// Set a custom claim given to every member: VALUE is JSON when it parses, else text
    SetClaim {
        group: String,
        name: String,
        value: String,
    },
    /// Remove a group's custom claim
    UnsetClaim { group: String, name: String },
}

/// JWS signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Alg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl Alg {
    /// The JOSE name (`alg` header value).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }
}

fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(crate::config::role_names())
        .map(|name| name.parse::<Role>().expect("role names parse"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::iter::once("latchkey").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_valid() {
        <Cli as CommandFactory>::command().debug_assert();
    }

    #[test]
    fn no_command_means_serve() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.cmd(), &Command::Serve);
        assert_eq!(cli.cmd().primary_role(), Role::Idp);
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        for args in [
            &["--data-dir", "x", "idp"][..],
            &["idp", "--data-dir", "x"][..],
        ] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.data_dir.as_deref(), Some("x"), "{args:?}");
            assert_eq!(cli.cmd(), &Command::Idp);
        }
        let cli = parse(&[
            "clients",
            "list",
            "--config",
            "/etc/l.toml",
            "--log-level",
            "debug",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/etc/l.toml")));
        assert_eq!(cli.log_level.as_deref(), Some("debug"));
        assert_eq!(
            cli.cmd(),
            &Command::Clients(ClientsCommand::List { role: None })
        );
    }

    #[test]
    fn role_commands() {
        assert_eq!(parse(&["tsidp"]).unwrap().cmd().primary_role(), Role::Tsidp);
        assert_eq!(
            parse(&["tsidp"]).unwrap().cmd().run().only_role(),
            Some(Role::Tsidp)
        );
        assert_eq!(parse(&["serve"]).unwrap().cmd().run().only_role(), None);
        assert_eq!(
            parse(&["check-config"]).unwrap().cmd(),
            &Command::CheckConfig
        );
        assert_eq!(parse(&["version"]).unwrap().cmd(), &Command::Version);
    }

    #[test]
    fn healthcheck_and_keys() {
        assert_eq!(
            parse(&["healthcheck", "--url", "http://127.0.0.1:1411/healthz"])
                .unwrap()
                .command,
            Some(Command::Healthcheck {
                url: Some("http://127.0.0.1:1411/healthz".into())
            })
        );
        assert_eq!(
            parse(&["keys", "rotate", "--alg", "EdDSA", "--role", "tsidp"])
                .unwrap()
                .command,
            Some(Command::Keys(KeysCommand::Rotate {
                alg: Some(Alg::EdDsa),
                role: Some(Role::Tsidp)
            }))
        );
        assert_eq!(
            parse(&["keys", "rotate", "--alg", "es256"])
                .unwrap()
                .command,
            Some(Command::Keys(KeysCommand::Rotate {
                alg: Some(Alg::Es256),
                role: None
            }))
        );
        assert!(parse(&["keys", "rotate", "--alg", "HS256"]).is_err());
        assert!(parse(&["keys", "list", "--role", "proxy"]).is_err());
    }

    #[test]
    fn clients() {
        let cli = parse(&[
            "clients",
            "create",
            "--role",
            "idp",
            "--name",
            "Grafana",
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "https://b.example/cb",
            "--post-logout-redirect-uri",
            "https://a.example/",
            "--public",
        ])
        .unwrap();
        assert_eq!(
            cli.command,
            Some(Command::Clients(ClientsCommand::Create {
                role: Role::Idp,
                name: "Grafana".into(),
                redirect_uris: vec!["https://a.example/cb".into(), "https://b.example/cb".into()],
                post_logout_redirect_uris: vec!["https://a.example/".into()],
                public: true,
                alg: None,
                skip_consent: false,
                allowed_groups: vec![],
                launch_url: None,
                refresh_reuse_leeway: None,
                session_duration: None,
                backchannel_logout_uri: None,
            }))
        );
        // Durations for the refresh reuse leeway, at most a minute.
        let leeway = |v: &str| {
            let args = ["clients", "create", "--role", "idp", "--name", "x"];
            let args = [
                &args[..],
                &["--redirect-uri", "u", "--refresh-reuse-leeway", v],
            ]
            .concat();
            match parse(&args).map(|c| c.command) {
                Ok(Some(Command::Clients(ClientsCommand::Create {
                    refresh_reuse_leeway,
                    ..
                }))) => Ok(refresh_reuse_leeway),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(leeway("10s"), Ok(Some(10)));
        assert_eq!(leeway("1m"), Ok(Some(60)));
        assert!(leeway("2m").unwrap_err().contains("at most 60s"));
        assert!(leeway("soon").is_err());
        // --role and at least one --redirect-uri are required.
        assert!(parse(&["clients", "create", "--role", "idp", "--name", "x"]).is_err());
        assert!(parse(&["clients", "create", "--name", "x", "--redirect-uri", "u"]).is_err());

        assert_eq!(
            parse(&["clients", "rotate-secret", "abc"]).unwrap().command,
            Some(Command::Clients(ClientsCommand::RotateSecret {
                id: "abc".into()
            }))
        );
        assert_eq!(
            parse(&["clients", "delete", "abc"]).unwrap().command,
            Some(Command::Clients(ClientsCommand::Delete {
                id: "abc".into()
            }))
        );
        assert_eq!(
            parse(&["clients", "show", "abc"]).unwrap().command,
            Some(Command::Clients(ClientsCommand::Show { id: "abc".into() }))
        );
    }
}
