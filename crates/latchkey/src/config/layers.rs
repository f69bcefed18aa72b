//! The four layers, later wins: built-in defaults, the TOML file, the environment, flags. Each
//! is flattened to `dotted.path → value`; within one layer our own names beat shorthands, which
//! beat other programs' names (aliases), and a value and its `_file` form may not both be given.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::role::Role;
use anyhow::{Context, Result, anyhow, bail};
use toml::{Table, Value};

use super::Overrides;
use super::aliases::{
    ALIASES, Alias, OAUTH2_PROXY_ALIASES, ProxyFlag, env_alias, oauth2_proxy_file_flag,
};
use super::keys::{
    CONFIG_ENV, ENV_PREFIX, FILE_SUFFIX, Fallback, KEYS, Key, Kind, ROLE_KEYS, SHORTHANDS,
    env_names, file_names, find_key, flag_name, is_section, parse_text, unknown,
};

/// Where a value came from, for messages.
#[derive(Clone, Debug)]
pub(super) enum Source {
    Default,
    Derived,
    File { file: PathBuf, key: String },
    Env(String),
    Flag(String),
    Command(Role),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::Derived => f.write_str("derived default"),
            Source::File { file, key } => write!(f, "`{key}` in config file {}", file.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(flag) => write!(f, "command-line flag {flag}"),
            Source::Command(role) => write!(f, "subcommand `{role}`"),
        }
    }
}

pub(super) struct Entry {
    pub(super) value: Value,
    pub(super) source: Source,
    /// `value` names a file holding the secret; read once the layers are merged.
    pub(super) secret_file: bool,
    /// Set through this alias rather than one of our own names.
    pub(super) via: Option<&'static Alias>,
}

impl Entry {
    /// A value set by Latchkey itself (a default or a derived value), not by a name.
    pub(super) fn ours(value: Value, source: Source) -> Entry {
        Entry {
            value,
            source,
            secret_file: false,
            via: None,
        }
    }
}

/// Values by dotted path.
pub(super) type Layer = BTreeMap<String, Entry>;

/// What a name in the file, the environment or a flag sets.
#[derive(Clone, Copy)]
pub(super) enum Target {
    Key(&'static Key),
    SecretFile(&'static Key),
    Shorthand(&'static str),
}

impl Target {
    fn kind(self) -> Kind {
        match self {
            Target::Key(key) => key.kind,
            Target::SecretFile(_) => Kind::Str,
            Target::Shorthand(name) => ROLE_KEYS
                .iter()
                .find(|spec| spec.name == name)
                .map_or(Kind::Str, |spec| spec.kind),
        }
    }
}

/// Precedence within one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rank {
    Alias,
    Shorthand,
    Specific,
}

/// Resolves a dotted path as written in the file (or a flag's key).
pub(super) fn file_target(path: &str) -> Option<Target> {
    if let Some(key) = find_key(path) {
        return Some(Target::Key(key));
    }
    if let Some(key) = path.strip_suffix(FILE_SUFFIX).and_then(find_key)
        && key.secret
    {
        return Some(Target::SecretFile(key));
    }
    SHORTHANDS
        .iter()
        .find(|name| **name == path)
        .map(|name| Target::Shorthand(name))
}

/// Resolves a `LATCHKEY_*` variable name; `None` for variables that are not ours.
fn env_target(name: &str) -> Option<(Target, Rank)> {
    if let Some(rest) = name.strip_prefix(ENV_PREFIX)
        && let Some(shorthand) = SHORTHANDS
            .iter()
            .find(|short| short.eq_ignore_ascii_case(rest))
    {
        return Some((Target::Shorthand(shorthand), Rank::Shorthand));
    }
    let file_form = name.strip_suffix("_FILE");
    for key in KEYS.iter() {
        if key.env == name {
            return Some((Target::Key(key), Rank::Specific));
        }
        if key.secret && file_form == Some(key.env.as_str()) {
            return Some((Target::SecretFile(key), Rank::Specific));
        }
    }
    None
}

/// Collects one layer's values, then settles shorthands, aliases and `_file` forms.
struct LayerBuilder {
    primary: Role,
    raw: BTreeMap<String, Vec<(Rank, Entry)>>,
}

impl LayerBuilder {
    fn new(primary: Role) -> LayerBuilder {
        LayerBuilder {
            primary,
            raw: BTreeMap::new(),
        }
    }

    fn add(
        &mut self,
        target: Target,
        rank: Rank,
        value: Value,
        source: Source,
        via: Option<&'static Alias>,
    ) {
        let (path, secret_file, rank) = match target {
            Target::Key(key) => (key.path.clone(), false, rank),
            Target::SecretFile(key) => (key.path.clone(), true, rank),
            Target::Shorthand(name) => (format!("{}.{name}", self.primary), false, Rank::Shorthand),
        };
        let entry = Entry {
            value,
            source,
            secret_file,
            via,
        };
        self.raw.entry(path).or_default().push((rank, entry));
    }

    fn finish(self) -> Result<Layer> {
        let mut layer = Layer::new();
        for (path, mut entries) in self.raw {
            let top = entries.iter().map(|(rank, _)| *rank).max();
            entries.retain(|(rank, _)| Some(*rank) == top);
            let direct = entries.iter().find(|(_, entry)| !entry.secret_file);
            let from_file = entries.iter().find(|(_, entry)| entry.secret_file);
            if let (Some((_, direct)), Some((_, from_file))) = (direct, from_file) {
                bail!(
                    "both {} and {} set `{path}`; use only one of them",
                    direct.source,
                    from_file.source
                );
            }
            if let Some(entry) = merge_parts(entries) {
                layer.insert(path, entry);
            }
        }
        Ok(layer)
    }
}

/// The value the top-ranked entries of one path give: the last one, unless they are parts of
/// one value (tables, as Pocket ID's `HOST` and `PORT` give the parts of `idp.listen`), which
/// are then merged into one.
fn merge_parts(entries: Vec<(Rank, Entry)>) -> Option<Entry> {
    let all_parts = entries.iter().all(|(_, entry)| entry.value.is_table());
    let mut entries = entries.into_iter().map(|(_, entry)| entry);
    if !all_parts {
        return entries.next_back();
    }
    let mut merged = entries.next()?;
    for entry in entries {
        if let (Source::Env(names), Source::Env(name)) = (&mut merged.source, &entry.source) {
            *names = format!("{names} and {name}");
        }
        if let (Value::Table(into), Value::Table(parts)) = (&mut merged.value, entry.value) {
            into.extend(parts);
        }
    }
    Some(merged)
}

pub(super) fn defaults_layer() -> Layer {
    KEYS.iter()
        .filter_map(|key| match key.default {
            Fallback::Value(text) => Some((
                key.path.clone(),
                Entry::ours(
                    parse_text(key.kind, text).expect("built-in defaults parse"),
                    Source::Default,
                ),
            )),
            Fallback::None | Fallback::Derived(_) => None,
        })
        .collect()
}

/// The file's table; under `latchkey proxy`, an oauth2-proxy file's keys moved under `proxy`.
pub(super) fn read_file(file: &Path, primary: Role) -> Result<Table> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read config file {}", file.display()))?;
    let table: Table = text
        .parse()
        .map_err(|err| anyhow!("config file {}: {err}", file.display()))?;
    Ok(if primary == Role::Proxy {
        oauth2_proxy_file(table)
    } else {
        table
    })
}

/// The layer of `table`, read from `file`.
pub(super) fn file_layer(file: &Path, table: &Table, primary: Role) -> Result<Layer> {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    walk_file(table, "", &mut values, &mut problems);
    if !problems.is_empty() {
        bail!("config file {}: {}", file.display(), problems.join("; "));
    }
    let mut builder = LayerBuilder::new(primary);
    for (path, target, value) in values {
        let source = Source::File {
            file: file.to_owned(),
            key: path,
        };
        builder.add(target, Rank::Specific, value, source, None);
    }
    builder.finish()
}

/// Under `latchkey proxy`, an oauth2-proxy configuration file works as it is: its top-level
/// keys that are `[proxy]` keys move there, and its `http_address` becomes `proxy.listen`.
fn oauth2_proxy_file(table: Table) -> Table {
    let mut out = Table::new();
    let mut proxy = Table::new();
    for (name, value) in table {
        let proxy_path = format!("proxy.{name}");
        let ours = file_target(&name).is_some() || is_section(&name);
        if !ours && name == "http_address" {
            let converted = value.as_str().and_then(|text| {
                OAUTH2_PROXY_ALIASES
                    .iter()
                    .find(|alias| alias.env == "OAUTH2_PROXY_HTTP_ADDRESS")
                    .and_then(|alias| alias.convert(Kind::Str, text).ok().flatten())
            });
            proxy.insert("listen".into(), converted.unwrap_or(value));
        } else if !ours && file_target(&proxy_path).is_some() {
            proxy.insert(name, value);
        } else {
            out.insert(name, value);
        }
    }
    if !proxy.is_empty() {
        match out.entry("proxy") {
            toml::map::Entry::Vacant(slot) => {
                slot.insert(Value::Table(proxy));
            }
            toml::map::Entry::Occupied(mut slot) => {
                if let Value::Table(section) = slot.get_mut() {
                    for (name, value) in proxy {
                        section.entry(name).or_insert(value);
                    }
                }
            }
        }
    }
    out
}

fn walk_file(
    table: &Table,
    prefix: &str,
    values: &mut Vec<(String, Target, Value)>,
    problems: &mut Vec<String>,
) {
    for (name, value) in table {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match (file_target(&path), value) {
            (Some(target), _) => match check_type(target.kind(), value) {
                Ok(()) => values.push((path, target, value.clone())),
                Err(err) => problems.push(format!("`{path}`: {err}")),
            },
            (None, Value::Table(inner)) if is_section(&path) => {
                walk_file(inner, &path, values, problems)
            }
            (None, _) if is_section(&path) => problems.push(format!(
                "`{path}` is a section; write it as a [{path}] table"
            )),
            (None, Value::Table(_)) => {
                problems.push(unknown(&format!("section `[{path}]`"), &path, file_names()))
            }
            (None, _) => problems.push(unknown(&format!("key `{path}`"), &path, file_names())),
        }
    }
}

pub(super) fn env_layer(env: &[(String, String)], primary: Role) -> Result<Layer> {
    let mut builder = LayerBuilder::new(primary);
    let mut problems = Vec::new();
    for (name, value) in env {
        if let Some((alias, file_form)) = env_alias(name) {
            let Some(key) = alias.key() else { continue };
            if value.is_empty() {
                continue;
            }
            let (target, value) = if file_form {
                (
                    Target::SecretFile(key),
                    Ok(Some(Value::String(value.clone()))),
                )
            } else {
                (Target::Key(key), alias.convert(key.kind, value))
            };
            match value {
                Ok(Some(value)) => {
                    let source = Source::Env(name.clone());
                    builder.add(target, Rank::Alias, value, source, Some(alias));
                }
                Ok(None) => {}
                Err(err) => problems.push(format!("environment variable {name}: {err}")),
            }
            continue;
        }
        let Some((target, rank)) = env_target(name) else {
            if name.starts_with(ENV_PREFIX) && name != CONFIG_ENV {
                problems.push(unknown(
                    &format!("environment variable {name}"),
                    name,
                    env_names(),
                ));
            }
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match parse_text(target.kind(), value) {
            Ok(value) => builder.add(target, rank, value, Source::Env(name.clone()), None),
            Err(err) => problems.push(format!("environment variable {name}: {err}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    builder.finish()
}

pub(super) fn flag_layer(overrides: &Overrides, primary: Role) -> Result<Layer> {
    let mut builder = LayerBuilder::new(primary);
    for (name, value) in overrides.flags.by_key() {
        let Some(value) = value else { continue };
        let target = file_target(name).expect("every configuration flag names a known key");
        let flag = flag_name(name);
        let value = parse_text(target.kind(), value).map_err(|err| anyhow!("{flag}: {err}"))?;
        builder.add(target, Rank::Specific, value, Source::Flag(flag), None);
    }
    for flag in &overrides.tsidp_flags {
        let alias = ALIASES
            .iter()
            .find(|alias| alias.flag == Some(flag.name))
            .expect("every tsidp flag has an alias");
        let Some(key) = alias.key() else { continue };
        let spelled = format!("-{}", flag.name);
        match alias.convert(key.kind, &flag.value) {
            Ok(Some(value)) => {
                let source = Source::Flag(spelled);
                builder.add(Target::Key(key), Rank::Alias, value, source, Some(alias));
            }
            Ok(None) => {}
            Err(err) => bail!("{spelled}: {err}"),
        }
    }
    // A list flag may be repeated (`--upstream A --upstream B`); its values add up.
    let mut proxy_flags: Vec<ProxyFlag> = Vec::new();
    for flag in &overrides.proxy_flags {
        let is_list = OAUTH2_PROXY_ALIASES
            .iter()
            .find(|alias| alias.flag == Some(flag.name.as_str()))
            .and_then(|alias| alias.key())
            .is_some_and(|key| key.kind == Kind::List);
        match proxy_flags.iter_mut().find(|prior| prior.name == flag.name) {
            Some(prior) if is_list => {
                prior.value.push(',');
                prior.value.push_str(&flag.value);
            }
            _ => proxy_flags.push(flag.clone()),
        }
    }
    for flag in &proxy_flags {
        let spelled = format!("--{}", flag.name);
        let source = Source::Flag(spelled.clone());
        if let Some(alias) = oauth2_proxy_file_flag(&flag.name) {
            let key = alias.key().expect("oauth2-proxy's aliases name keys");
            let value = Value::String(flag.value.clone());
            builder.add(
                Target::SecretFile(key),
                Rank::Alias,
                value,
                source,
                Some(alias),
            );
            continue;
        }
        let alias = OAUTH2_PROXY_ALIASES
            .iter()
            .find(|alias| alias.flag == Some(flag.name.as_str()))
            .ok_or_else(|| anyhow!("{spelled}: not an option of `latchkey proxy`"))?;
        let key = alias.key().expect("oauth2-proxy's aliases name keys");
        match alias.convert(key.kind, &flag.value) {
            Ok(Some(value)) => {
                builder.add(Target::Key(key), Rank::Alias, value, source, Some(alias))
            }
            Ok(None) => {}
            Err(err) => bail!("{spelled}: {err}"),
        }
    }
    builder.finish()
}

/// Checks a value from the file against the key's kind.
pub(super) fn check_type(kind: Kind, value: &Value) -> Result<(), String> {
    let ok = match (kind, value) {
        (Kind::Str, Value::String(_)) | (Kind::Bool, Value::Boolean(_)) => true,
        (Kind::Int, Value::Integer(n)) => *n >= 0,
        (Kind::List, Value::Array(items)) => items.iter().all(Value::is_str),
        (Kind::Tables, Value::Array(items)) => items.iter().all(Value::is_table),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    if kind == Kind::Tables
        && let Value::Array(items) = value
        && items.iter().all(Value::is_str)
    {
        // The one such key is `proxy.upstream`; a list of URLs is its neighbour's.
        return Err(
            "expected an array of tables, found an array of strings (did you mean `proxy.upstreams`?)"
                .into(),
        );
    }
    let found = match value {
        Value::Integer(n) => format!("{n}"),
        other => other.type_str().to_owned(),
    };
    Err(format!("expected {}, found {found}", kind.describe()))
}
