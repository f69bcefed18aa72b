//! The decisions: who may pass (e-mail addresses and domains, groups), which routes pass
//! without a session or answer 401, where people may be sent back to, and which headers
//! only the proxy may set.

mod email;
mod headers;
mod redirect;
mod routes;
mod upstream;

use latchkey_store::ProxyIdentity;

pub use email::{EmailRules, RECHECK, split_address};
pub use headers::{set as set_header, strip_identity_headers};
pub use redirect::RedirectPolicy;
pub use routes::{RouteRule, Routes, normal_path};
pub use upstream::UpstreamRules;

use crate::settings::{ProxySettings, SettingsError, invalid};

#[derive(Clone, Debug)]
pub struct Rules {
    emails: EmailRules,
    groups: Vec<String>,
    pub routes: Routes,
    pub redirects: RedirectPolicy,
}

impl Rules {
    pub fn new(s: &ProxySettings) -> Result<Rules, SettingsError> {
        let own =
            url::Url::parse(&s.redirect_url).map_err(|e| invalid("redirect-url", e.to_string()))?;
        Ok(Rules {
            emails: EmailRules::new(&s.email_domains, &s.allowed_emails)?
                .with_file(s.authenticated_emails_file.as_deref())?,
            groups: s.allowed_groups.clone(),
            routes: Routes::new(&s.skip_auth_routes, &s.api_routes, s.skip_auth_preflight)?,
            redirects: RedirectPolicy::new(&own, &s.whitelist_domains)?,
        })
    }

    /// The proxy-wide rules: an allowed address or domain, and one of the allowed groups
    /// when there are any.
    pub fn authorize(&self, id: &ProxyIdentity) -> bool {
        self.emails.allows(id.email.as_deref())
            && (self.groups.is_empty() || id.groups.iter().any(|g| self.groups.contains(g)))
    }

    /// `/oauth2/auth`'s per-request rules in its query: `allowed_groups`, `allowed_emails`,
    /// `allowed_email_domains`, each a comma-separated list of which one must match.
    pub fn query_allows(query: Option<&str>, id: &ProxyIdentity) -> bool {
        let Some(query) = query else { return true };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let list: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            let ok = match name.as_ref() {
                "allowed_groups" => list.iter().any(|g| id.groups.iter().any(|h| h == g)),
                "allowed_emails" => email::is_any_address(id.email.as_deref(), &list),
                "allowed_email_domains" => email::in_any_domain(id.email.as_deref(), &list),
                _ => true,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_store::Subject;

    fn id(email: Option<&str>, groups: &[&str]) -> ProxyIdentity {
        ProxyIdentity {
            subject: Subject::from("s"),
            sid: None,
            user: "s".into(),
            email: email.map(str::to_owned),
            email_verified: true,
            preferred_username: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn groups_and_query_rules() {
        let mut s = ProxySettings::new(
            "p",
            "https://op",
            "c",
            Some("x"),
            "https://a/oauth2/callback",
        );
        s.email_domains = vec!["example.com".into()];
        s.allowed_groups = vec!["admins".into(), "ops".into()];
        let r = Rules::new(&s).unwrap();
        assert!(r.authorize(&id(Some("a@example.com"), &["staff", "ops"])));
        assert!(!r.authorize(&id(Some("a@example.com"), &["staff"])));
        assert!(!r.authorize(&id(Some("a@other.com"), &["ops"])));

        let who = id(Some("a@example.com"), &["staff", "ops"]);
        assert!(Rules::query_allows(None, &who));
        assert!(Rules::query_allows(Some("allowed_groups=x,ops"), &who));
        assert!(!Rules::query_allows(Some("allowed_groups=x,admins"), &who));
        assert!(!Rules::query_allows(Some("allowed_groups="), &who));
        assert!(Rules::query_allows(
            Some("allowed_email_domains=example.com"),
            &who
        ));
        assert!(!Rules::query_allows(
            Some("allowed_email_domains=other.com"),
            &who
        ));
        assert!(Rules::query_allows(
            Some("allowed_emails=b@x,A@example.com"),
            &who
        ));
        assert!(!Rules::query_allows(
            Some("allowed_groups=ops&allowed_emails=b@x"),
            &who
        ));
    }
}
