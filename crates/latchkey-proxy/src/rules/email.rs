//! `--email-domain` and the allowed addresses. An address must have exactly one `@`
//! (GHSA-c5c4-8r6x-56w3: `alice@good.com@evil.com` passed oauth2-proxy's domain check).

use std::collections::HashSet;

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

/// Who may pass by e-mail address: any (`*`), by domain, or by address.
#[derive(Clone, Debug, Default)]
pub struct EmailRules {
    any: bool,
    domains: Vec<DomainRule>,
    emails: HashSet<String>,
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
        self.emails.contains(&email) || self.domains.iter().any(|d| d.matches(domain))
    }
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
    fn query_checks() {
        assert!(in_any_domain(Some("a@x.org"), &["y.org", "x.org"]));
        assert!(!in_any_domain(Some("a@x.org@y.org"), &["y.org"]));
        assert!(!in_any_domain(None, &["*"]));
        assert!(is_any_address(Some("A@x.org"), &["b@x.org", "a@X.org"]));
        assert!(!is_any_address(Some("a@x.org"), &["b@x.org"]));
    }
}
