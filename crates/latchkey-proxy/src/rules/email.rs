//! `--email-domain` and the allowed addresses. An address must have exactly one `@`
//! (GHSA-c5c4-8r6x-56w3: `alice@good.com@evil.com` passed oauth2-proxy's domain check).
//!
//! `--authenticated-emails-file` is read again when it changes, as oauth2-proxy does: a
//! request looks at the file's modification time and size at most every [`RECHECK`], and a
//! changed file replaces the list at once. A file that becomes unreadable or malformed keeps
//! the last good list (and says so in the log), so a half-saved edit locks nobody out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::settings::{SettingsError, invalid};

/// `(local part, domain)` of a plain address: one `@`, neither side empty, no whitespace or
/// control characters.
pub fn split_address(email: &str) -> Option<(&str, &str)> {
    let (local, domain) = email.split_once('@')?;
    let plain = |s: &str| {
        !s.is_empty() && !s.contains('@') && !s.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    (plain(local) && plain(domain)).then_some((local, domain))
}

#[derive(Clone, Debug)]
struct DomainRule {
    domain: String,
    /// `*.example.com` / `.example.com`: its subdomains (not itself).
    subdomains: bool,
}

impl DomainRule {
    fn parse(entry: &str) -> Result<DomainRule, SettingsError> {
        let e = entry.trim().to_ascii_lowercase();
        let (domain, subdomains) = match e.strip_prefix("*.").or_else(|| e.strip_prefix('.')) {
            Some(d) => (d.to_owned(), true),
            None => (e.clone(), false),
        };
        if domain.is_empty() || domain.contains('@') || domain.contains('*') {
            return Err(invalid(
                "email-domain",
                format!("{entry:?} is not a domain"),
            ));
        }
        Ok(DomainRule { domain, subdomains })
    }

    fn matches(&self, domain: &str) -> bool {
        if self.subdomains {
            domain
                .strip_suffix(self.domain.as_str())
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        } else {
            domain == self.domain
        }
    }
}

/// Who may pass by e-mail address: any (`*`), by domain, or by address (listed, or in the
/// authenticated e-mails file).
#[derive(Clone, Debug, Default)]
pub struct EmailRules {
    any: bool,
    domains: Vec<DomainRule>,
    emails: HashSet<String>,
    file: Option<Arc<EmailsFile>>,
}

impl EmailRules {
    pub fn new(domains: &[String], emails: &[String]) -> Result<EmailRules, SettingsError> {
        let mut rules = EmailRules::default();
        for d in domains {
            if d.trim() == "*" {
                rules.any = true;
            } else {
                rules.domains.push(DomainRule::parse(d)?);
            }
        }
        for e in emails {
            let e = e.trim().to_lowercase();
            if split_address(&e).is_none() {
                return Err(invalid(
                    "authenticated-emails-file",
                    format!("{e:?} is not an e-mail address"),
                ));
            }
            rules.emails.insert(e);
        }
        Ok(rules)
    }

    /// The same rules, with the addresses of `--authenticated-emails-file` (read now; a file
    /// that cannot be read or parsed at start is a settings error).
    pub fn with_file(mut self, path: Option<&Path>) -> Result<EmailRules, SettingsError> {
        if let Some(path) = path {
            self.file = Some(Arc::new(EmailsFile::open(path)?));
        }
        Ok(self)
    }

    /// `*` lets everyone in, with or without an address; otherwise the address must be
    /// plain and listed, or in a listed domain.
    pub fn allows(&self, email: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let Some(email) = email else { return false };
        let email = email.to_lowercase();
        let Some((_, domain)) = split_address(&email) else {
            return false;
        };
        self.emails.contains(&email)
            || self.domains.iter().any(|d| d.matches(domain))
            || self.file.as_ref().is_some_and(|f| f.contains(&email))
    }
}

/// How often, at most, a request looks whether the e-mails file changed.
pub const RECHECK: Duration = Duration::from_secs(2);

/// What identifies a version of the file without reading it.
type Stamp = (Option<SystemTime>, u64);

/// `--authenticated-emails-file`, kept current.
#[derive(Debug)]
struct EmailsFile {
    path: PathBuf,
    addresses: RwLock<Arc<HashSet<String>>>,
    /// When the file was last looked at, and the version last read (good or not).
    checked: Mutex<(Instant, Option<Stamp>)>,
}

impl EmailsFile {
    fn open(path: &Path) -> Result<EmailsFile, SettingsError> {
        let bad = |reason: String| invalid("authenticated-emails-file", reason);
        let stamp = stamp(path).map_err(|e| bad(format!("cannot read {path:?}: {e}")))?;
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {path:?}: {e}")))?;
        let addresses = parse_emails(&text).map_err(bad)?;
        Ok(EmailsFile {
            path: path.to_owned(),
            addresses: RwLock::new(Arc::new(addresses)),
            checked: Mutex::new((Instant::now(), Some(stamp))),
        })
    }

    fn contains(&self, email: &str) -> bool {
        self.recheck();
        let current = self
            .addresses
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        current.contains(email)
    }

    /// Reads the file again when [`RECHECK`] has passed and its stamp changed. One request
    /// does it; the others go on with the list they have.
    fn recheck(&self) {
        let Ok(mut checked) = self.checked.try_lock() else {
            return;
        };
        if checked.0.elapsed() < RECHECK {
            return;
        }
        checked.0 = Instant::now();
        let now = match stamp(&self.path) {
            Ok(s) => s,
            Err(e) => {
                if checked.1.take().is_some() {
                    tracing::warn!(file = ?self.path, error = %e, "authenticated e-mails file unreadable; keeping the last good list");
                }
                return;
            }
        };
        if checked.1 == Some(now) {
            return;
        }
        checked.1 = Some(now);
        let parsed = std::fs::read_to_string(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_emails(&text));
        match parsed {
            Ok(addresses) => {
                tracing::info!(file = ?self.path, addresses = addresses.len(), "authenticated e-mails file read again");
                *self
                    .addresses
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(addresses);
            }
            Err(e) => {
                tracing::warn!(file = ?self.path, error = %e, "authenticated e-mails file not taken; keeping the last good list");
            }
        }
    }
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified().ok(), meta.len()))
}

/// oauth2-proxy's `--authenticated-emails-file`: one address a line, `#` comments, blank lines,
/// lower-cased. A line that is not an address refuses the whole file.
pub fn parse_emails(text: &str) -> Result<HashSet<String>, String> {
    let mut out = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let email = line.to_lowercase();
        if split_address(&email).is_none() {
            return Err(format!("line {}: {line:?} is not an e-mail address", n + 1));
        }
        out.insert(email);
    }
    Ok(out)
}

/// The `allowed_email_domains` query of `/oauth2/auth`: any of these plain domains or
/// `*.`/`.` subdomain forms.
pub fn in_any_domain(email: Option<&str>, domains: &[&str]) -> bool {
    let Some(email) = email.map(str::to_lowercase) else {
        return false;
    };
    let Some((_, domain)) = split_address(&email) else {
        return false;
    };
    domains
        .iter()
        .any(|d| d.trim() == "*" || DomainRule::parse(d).is_ok_and(|rule| rule.matches(domain)))
}

/// The `allowed_emails` query: any of these addresses.
pub fn is_any_address(email: Option<&str>, emails: &[&str]) -> bool {
    let Some(email) = email.map(str::to_lowercase) else {
        return false;
    };
    split_address(&email).is_some() && emails.iter().any(|e| e.trim().to_lowercase() == email)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(domains: &[&str], emails: &[&str]) -> EmailRules {
        let s = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        EmailRules::new(&s(domains), &s(emails)).unwrap()
    }

    #[test]
    fn domains_and_addresses() {
        let r = rules(&["example.com", "*.corp.example"], &["Guest@Other.org"]);
        assert!(r.allows(Some("alice@example.com")));
        assert!(r.allows(Some("ALICE@EXAMPLE.COM")));
        assert!(r.allows(Some("bob@eu.corp.example")));
        assert!(r.allows(Some("guest@other.org")));
        for bad in [
            None,
            Some("alice@sub.example.com"),
            Some("alice@example.com.evil"),
            Some("alice@evilexample.com"),
            Some("bob@corp.example"),
            Some("bob@evilcorp.example"),
            Some("other@other.org"),
            Some("alice@evil.com@example.com"),
            Some("alice@example.com@evil.com"),
            Some("@example.com"),
            Some("alice@"),
            Some("alice"),
            Some("alice @example.com"),
            Some("alice@example.com\n"),
        ] {
            assert!(!r.allows(bad), "{bad:?}");
        }
        // No rule at all: nobody.
        assert!(!rules(&[], &[]).allows(Some("alice@example.com")));
        // `*`: everyone, even without an address.
        assert!(rules(&["*"], &[]).allows(None));
        assert!(EmailRules::new(&["a@b".into()], &[]).is_err());
        assert!(EmailRules::new(&[], &["a@b@c".into()]).is_err());
    }

    #[test]
    fn emails_file_lines() {
        let parsed = parse_emails("# staff\nAlice@Example.com\n\n bob@x.org # guest\n").unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parsed.contains("alice@example.com") && parsed.contains("bob@x.org"));
        let err = parse_emails("alice@example.com\nnot an address\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn query_checks() {
        assert!(in_any_domain(Some("a@x.org"), &["y.org", "x.org"]));
        assert!(!in_any_domain(Some("a@x.org@y.org"), &["y.org"]));
        assert!(!in_any_domain(None, &["*"]));
        assert!(is_any_address(Some("A@x.org"), &["b@x.org", "a@X.org"]));
        assert!(!is_any_address(Some("a@x.org"), &["b@x.org"]));
    }
}
