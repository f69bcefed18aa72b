//! Rules of one upstream (`[[proxy.upstream]]` with `allowed_groups`, `allowed_emails`,
//! `allowed_email_domains`), checked after the proxy-wide ones for requests routed to it.

use latchkey_store::ProxyIdentity;

use super::email::EmailRules;
use crate::settings::{AccessRules, SettingsError, invalid};

#[derive(Clone, Debug)]
pub struct UpstreamRules {
    /// `None`: no e-mail rule (neither list set).
    emails: Option<EmailRules>,
    groups: Vec<String>,
}

impl UpstreamRules {
    /// `None` when `rules` sets nothing. `url` names the upstream in errors.
    pub fn new(url: &str, rules: &AccessRules) -> Result<Option<UpstreamRules>, SettingsError> {
        if rules.is_empty() {
            return Ok(None);
        }
        let emails = if rules.allowed_emails.is_empty() && rules.allowed_email_domains.is_empty() {
            None
        } else {
            Some(
                EmailRules::new(&rules.allowed_email_domains, &rules.allowed_emails)
                    .map_err(|e| invalid("upstream", format!("{url:?}: {}", e.reason)))?,
            )
        };
        if rules.allowed_groups.iter().any(|g| g.trim().is_empty()) {
            return Err(invalid(
                "upstream",
                format!("{url:?}: an allowed group must not be empty"),
            ));
        }
        Ok(Some(UpstreamRules {
            emails,
            groups: rules.allowed_groups.clone(),
        }))
    }

    /// A listed address or domain (when the upstream lists any), and one of its groups (when
    /// it lists any).
    pub fn allows(&self, id: &ProxyIdentity) -> bool {
        self.emails
            .as_ref()
            .is_none_or(|e| e.allows(id.email.as_deref()))
            && (self.groups.is_empty() || id.groups.iter().any(|g| self.groups.contains(g)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_store::Subject;

    fn id(email: &str, groups: &[&str]) -> ProxyIdentity {
        ProxyIdentity {
            subject: Subject::from("s"),
            sid: None,
            user: "s".into(),
            email: Some(email.to_owned()),
            email_verified: true,
            preferred_username: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn rules(groups: &[&str], emails: &[&str], domains: &[&str]) -> Option<UpstreamRules> {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        UpstreamRules::new(
            "http://app/",
            &AccessRules {
                allowed_groups: v(groups),
                allowed_emails: v(emails),
                allowed_email_domains: v(domains),
            },
        )
        .unwrap()
    }

    #[test]
    fn groups_and_addresses() {
        assert!(rules(&[], &[], &[]).is_none());
        let admins = rules(&["admins"], &[], &[]).unwrap();
        assert!(admins.allows(&id("a@x.org", &["staff", "admins"])));
        assert!(!admins.allows(&id("a@x.org", &["staff"])));
        let people = rules(&[], &["Boss@Y.org"], &["x.org"]).unwrap();
        assert!(people.allows(&id("a@x.org", &[])));
        assert!(people.allows(&id("boss@y.org", &[])));
        assert!(!people.allows(&id("other@y.org", &[])));
        assert!(!people.allows(&id("a@x.org@y.org", &[])));
        let both = rules(&["ops"], &[], &["x.org"]).unwrap();
        assert!(both.allows(&id("a@x.org", &["ops"])));
        assert!(!both.allows(&id("a@x.org", &["staff"])));
        assert!(!both.allows(&id("a@z.org", &["ops"])));
        let bad = AccessRules {
            allowed_email_domains: vec!["a@b".into()],
            ..AccessRules::default()
        };
        let err = UpstreamRules::new("http://app/", &bad).unwrap_err();
        assert!(
            err.option == "upstream" && err.reason.contains("http://app/"),
            "{err}"
        );
    }
}
