//! The `tailscale.com/cap/tsidp` application capability: what the tailnet policy lets the
//! connecting peer do with tsidp.
//!
//! A grant in the policy file looks like
//! ```json
//! {"src": ["group:eng"], "dst": ["tag:idp"], "app": {"tailscale.com/cap/tsidp": [
//!   {"allow_admin_ui": true, "allow_dcr": true, "users": ["*"], "resources": ["*"],
//!    "extraClaims": {"groups": ["admin"]}, "includeInUserInfo": true}]}}
//! ```
//! tailscaled hands the rules that apply to a peer back in the WhoIs `CapMap`. As in tsidp the
//! model is deny-by-default: with no rule, nothing is allowed and no claim is added; several
//! rules are OR'd together.
//!
//! Field names are matched like Go's `encoding/json` does (exact name preferred, otherwise
//! ASCII case-insensitive), unknown fields are ignored, and `null` counts as absent.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::whois::CapMap;

/// Name of the capability tsidp reads from the WhoIs `CapMap`.
pub const CAP_TSIDP: &str = "tailscale.com/cap/tsidp";

/// Claim names `extraClaims` may not set. This is tsidp's `openIDSupportedClaims` list
/// (server/oauth-metadata.go), which server/extraclaims.go treats as protected.
pub const PROTECTED_CLAIMS: &[&str] = &[
    "sub",
    "aud",
    "exp",
    "iat",
    "iss",
    "jti",
    "nbf",
    "username",
    "email",
    "key",
    "addresses",
    "nid",
    "node",
    "tailnet",
    "tags",
    "user",
    "uid",
];

/// Whether `extraClaims` is refused for setting `name`.
pub fn is_protected(name: &str) -> bool {
    PROTECTED_CLAIMS.contains(&name)
}

/// One rule of the capability, as written in the policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub allow_admin_ui: bool,
    pub allow_dcr: bool,
    pub users: Vec<String>,
    pub resources: Vec<String>,
    pub extra_claims: Map<String, Value>,
    pub include_in_userinfo: bool,
}

impl Rule {
    /// tsidp's per-rule check: the user is listed (or `"*"`) and so is the resource.
    pub fn allows(&self, login: &str, resource: &str) -> bool {
        matches_any(&self.users, login) && matches_any(&self.resources, resource)
    }
}

/// Everything the peer's rules grant, merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    /// `allow_admin_ui`: may use the admin UI and the `/clients/` JSON API (OR of all rules).
    pub allow_admin_ui: bool,
    /// `allow_dcr`: may register clients with RFC 7591 dynamic client registration at
    /// `/register` (OR of all rules; tsidp never allows it over Funnel).
    pub allow_dcr: bool,
    /// `users`: the LoginNames (or `"*"`) a rule applies to when tsidp checks `resources`. In
    /// tsidp it only gates resources, never sign-in itself: the RFC 8707 `resource`
    /// parameters of a `/token` request (authorization_code or refresh_token grant; resources
    /// not allowed are dropped from the token's `aud`, and if none is left the request fails
    /// with 400 invalid_request) and the requested audiences of an RFC 8693 token exchange
    /// (`-enable-sts`; none allowed → 403 access_denied). Union over all rules.
    pub users: Vec<String>,
    /// `resources`: the audience / resource URIs (or `"*"`) that the rule's `users` may have
    /// added to a token's `aud` (RFC 8707) or exchange a token for (RFC 8693). Union over all
    /// rules.
    pub resources: Vec<String>,
    /// `extraClaims` of all rules, merged (see [`merge_extra_claims`]). tsidp adds them to
    /// every ID token, whatever the rule's `users`/`resources` say.
    pub extra_claims: Map<String, Value>,
    /// `includeInUserInfo`: some rule asks for its extra claims in `/userinfo` (OR).
    pub include_in_userinfo: bool,
    /// `extraClaims` merged over only the rules with `includeInUserInfo: true`: exactly what
    /// tsidp's `/userinfo` adds (a rule without the flag never leaks into userinfo).
    pub userinfo_extra_claims: Map<String, Value>,
    /// The rules as written, in order, for the exact per-rule check [`Grants::allows`].
    pub rules: Vec<Rule>,
}

impl Grants {
    /// Some rule lists `aud` (or `"*"`) in `resources`.
    ///
    /// This ignores which user a rule is for; tsidp pairs them per rule. To decide whether
    /// a particular user may get a particular audience, use [`Grants::allows`].
    pub fn allows_resource(&self, aud: &str) -> bool {
        matches_any(&self.resources, aud)
    }

    /// Some rule lists `login` (or `"*"`) in `users`. Exact, case-sensitive comparison with
    /// the WhoIs LoginName, as in tsidp. See [`Grants::allows`] for the paired check.
    pub fn allows_user(&self, login: &str) -> bool {
        matches_any(&self.users, login)
    }

    /// tsidp's check for a resource / token-exchange audience: some single rule lists both
    /// the user (or `"*"`) and the resource (or `"*"`).
    pub fn allows(&self, login: &str, resource: &str) -> bool {
        self.rules.iter().any(|r| r.allows(login, resource))
    }
}

/// Why the capability could not be used. tsidp answers 400/500 in these cases, refusing
/// the token or userinfo request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("malformed {CAP_TSIDP} rule: {0}")]
    Malformed(String),
    #[error(
        "{CAP_TSIDP} extraClaims may not set the protected claim {0:?} \
         (protected: sub aud exp iat iss jti nbf username email key addresses nid node tailnet tags user uid)"
    )]
    ProtectedClaim(String),
}

/// Reads the `tailscale.com/cap/tsidp` rules from a WhoIs `CapMap`. No rule gives the
/// all-denied default.
pub fn from_cap_map(cap_map: &CapMap) -> Result<Grants, GrantError> {
    let Some(raw_rules) = cap_map.get(CAP_TSIDP) else {
        return Ok(Grants::default());
    };
    let rules = raw_rules
        .iter()
        .enumerate()
        .map(|(i, v)| parse_rule(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    for rule in &rules {
        if let Some(name) = rule.extra_claims.keys().find(|k| is_protected(k)) {
            return Err(GrantError::ProtectedClaim(name.clone()));
        }
    }

    let mut g = Grants::default();
    for rule in &rules {
        g.allow_admin_ui |= rule.allow_admin_ui;
        g.allow_dcr |= rule.allow_dcr;
        g.include_in_userinfo |= rule.include_in_userinfo;
        for u in &rule.users {
            if !g.users.contains(u) {
                g.users.push(u.clone());
            }
        }
        for r in &rule.resources {
            if !g.resources.contains(r) {
                g.resources.push(r.clone());
            }
        }
    }
    g.extra_claims = merge_extra_claims(rules.iter().map(|r| &r.extra_claims));
    g.userinfo_extra_claims = merge_extra_claims(
        rules
            .iter()
            .filter(|r| r.include_in_userinfo)
            .map(|r| &r.extra_claims),
    );
    g.rules = rules;
    Ok(g)
}

/// Merges the `extraClaims` of several rules, in rule order, the way tsidp's
/// `flattenExtraClaims` (server/extraclaims.go) does:
///
/// * a claim given as an array in any rule becomes an array of the *stringified* values from
///   every rule (strings as is, numbers and booleans in their JSON spelling; nested arrays
///   flattened), de-duplicated. A scalar given for the same claim in another rule joins the
///   array. An array that ends up empty drops the claim.
/// * a claim only ever given as scalars (string, number, bool) keeps the first rule's value,
///   with its JSON type.
/// * objects and `null` are ignored, at the top level and inside arrays.
///
/// Differences from tsidp, all on edge cases: array order is first-seen order (tsidp's is Go
/// map order, i.e. random); numbers are stringified as JSON writes them (Go's `%v` writes
/// `1e+06` for 1000000); and an object or `null` given *first* for a claim that a later rule
/// gives as a scalar is skipped (tsidp would emit the object / `null`).
pub fn merge_extra_claims<'a>(
    rules: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Map<String, Value> {
    struct Acc {
        name: String,
        is_list: bool,
        first_scalar: Option<Value>,
        seen: HashSet<String>,
        values: Vec<String>,
    }
    let mut accs: Vec<Acc> = Vec::new();
    for rule in rules {
        for (name, value) in rule {
            let idx = match accs.iter().position(|a| &a.name == name) {
                Some(i) => i,
                None => {
                    accs.push(Acc {
                        name: name.clone(),
                        is_list: false,
                        first_scalar: None,
                        seen: HashSet::new(),
                        values: Vec::new(),
                    });
                    accs.len() - 1
                }
            };
            let acc = &mut accs[idx];
            match value {
                Value::Array(_) => acc.is_list = true,
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    if acc.first_scalar.is_none() {
                        acc.first_scalar = Some(value.clone());
                    }
                }
                Value::Null | Value::Object(_) => {}
            }
            collect_strings(value, &mut |s| {
                if acc.seen.insert(s.clone()) {
                    acc.values.push(s);
                }
            });
        }
    }
    let mut out = Map::new();
    for acc in accs {
        if acc.is_list {
            if !acc.values.is_empty() {
                let list = acc.values.into_iter().map(Value::String).collect();
                out.insert(acc.name, Value::Array(list));
            }
        } else if let Some(v) = acc.first_scalar {
            out.insert(acc.name, v);
        }
    }
    out
}

fn collect_strings(value: &Value, push: &mut impl FnMut(String)) {
    match value {
        Value::String(s) => push(s.clone()),
        Value::Number(n) => push(n.to_string()),
        Value::Bool(b) => push(b.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, push)),
        Value::Null | Value::Object(_) => {}
    }
}

pub(crate) fn matches_any(list: &[String], wanted: &str) -> bool {
    list.iter().any(|x| x == "*" || x == wanted)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value of field `name`, found like Go's encoding/json: exact key first, then an ASCII
/// case-insensitive match. `null` reads as absent.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name)
        .or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn parse_rule(index: usize, value: &Value) -> Result<Rule, GrantError> {
    let obj = match value {
        Value::Object(obj) => obj,
        // Go unmarshals `null` into a struct as a no-op: an empty rule.
        Value::Null => return Ok(Rule::default()),
        other => {
            return Err(GrantError::Malformed(format!(
                "rule #{index} must be a JSON object, not {}",
                json_type(other)
            )));
        }
    };
    let bad = |field: &str, want: &str, got: &Value| {
        GrantError::Malformed(format!(
            "rule #{index}: \"{field}\" must be {want}, not {}",
            json_type(got)
        ))
    };
    let bool_field = |name: &str| -> Result<bool, GrantError> {
        match field(obj, name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(name, "a boolean", other)),
        }
    };
    let list_field = |name: &str| -> Result<Vec<String>, GrantError> {
        match field(obj, name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(bad(name, "a list of strings", other)),
                })
                .collect(),
            Some(other) => Err(bad(name, "a list of strings", other)),
        }
    };
    let extra_claims = match field(obj, "extraClaims") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => return Err(bad("extraClaims", "an object", other)),
    };
    Ok(Rule {
        allow_admin_ui: bool_field("allow_admin_ui")?,
        allow_dcr: bool_field("allow_dcr")?,
        users: list_field("users")?,
        resources: list_field("resources")?,
        extra_claims,
        include_in_userinfo: bool_field("includeInUserInfo")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn caps(rules: Value) -> CapMap {
        let Value::Array(rules) = rules else {
            panic!("rules must be an array")
        };
        CapMap::from([(CAP_TSIDP.to_owned(), rules)])
    }

    fn grants(rules: Value) -> Grants {
        from_cap_map(&caps(rules)).unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn deny_by_default() {
        for cm in [
            CapMap::new(),
            CapMap::from([(
                "example.com/cap/other".to_owned(),
                vec![json!({"allow_dcr": true})],
            )]),
            caps(json!([])),
            caps(json!([{}])),
            caps(json!([null])),
        ] {
            let g = from_cap_map(&cm).unwrap();
            assert!(!g.allow_admin_ui && !g.allow_dcr && !g.include_in_userinfo);
            assert!(g.users.is_empty() && g.resources.is_empty());
            assert!(g.extra_claims.is_empty() && g.userinfo_extra_claims.is_empty());
            assert!(!g.allows_resource("https://api.example.com"));
            assert!(!g.allows_user("alice@example.com"));
            assert!(!g.allows("alice@example.com", "https://api.example.com"));
        }
    }

    #[test]
    fn documented_example_grant() {
        let g = grants(json!([{
            "allow_admin_ui": true, "allow_dcr": true, "users": ["*"], "resources": ["*"],
            "extraClaims": {"groups": ["admin"]}, "includeInUserInfo": true
        }]));
        assert!(g.allow_admin_ui && g.allow_dcr && g.include_in_userinfo);
        assert!(g.allows_user("anyone@example.com"));
        assert!(g.allows_resource("https://anything.example"));
        assert!(g.allows("anyone@example.com", "https://anything.example"));
        assert_eq!(
            Value::Object(g.extra_claims.clone()),
            json!({"groups": ["admin"]})
        );
        assert_eq!(g.userinfo_extra_claims, g.extra_claims);
    }

    #[test]
    fn rules_are_ored() {
        let g = grants(json!([
            {"allow_admin_ui": true},
            {"allow_dcr": true},
            {"includeInUserInfo": true},
            {"allow_admin_ui": false, "allow_dcr": false}
        ]));
        assert!(g.allow_admin_ui);
        assert!(g.allow_dcr);
        assert!(g.include_in_userinfo);
    }

    #[test]
    fn users_and_resources() {
        let g = grants(json!([
            {"users": ["alice@example.com"], "resources": ["https://a.example"]},
            {"users": ["bob@example.com", "alice@example.com"], "resources": ["https://b.example", null]}
        ]));
        assert_eq!(g.users, ["alice@example.com", "bob@example.com"]);
        assert_eq!(g.resources, ["https://a.example", "https://b.example"]);
        assert!(g.allows_user("alice@example.com"));
        assert!(
            !g.allows_user("Alice@example.com"),
            "case-sensitive like tsidp"
        );
        assert!(!g.allows_user("carol@example.com"));
        assert!(g.allows_resource("https://b.example"));
        assert!(!g.allows_resource("https://c.example"));
        // Paired per rule, as in tsidp.
        assert!(g.allows("alice@example.com", "https://a.example"));
        assert!(g.allows("alice@example.com", "https://b.example"));
        assert!(g.allows("bob@example.com", "https://b.example"));
        assert!(!g.allows("bob@example.com", "https://a.example"));
        assert!(!g.allows("carol@example.com", "https://a.example"));

        let g = grants(json!([{"users": ["*"], "resources": ["https://a.example"]}]));
        assert!(g.allows("carol@example.com", "https://a.example"));
        assert!(!g.allows("carol@example.com", "https://b.example"));
        let g = grants(json!([{"users": ["carol@example.com"], "resources": ["*"]}]));
        assert!(g.allows("carol@example.com", "urn:anything"));
        assert!(!g.allows("dave@example.com", "urn:anything"));
        // A user without resources, or resources without users, allow nothing.
        let g = grants(json!([{"users": ["*"]}, {"resources": ["*"]}]));
        assert!(!g.allows("carol@example.com", "urn:anything"));
    }

    #[test]
    fn field_names_match_like_go() {
        let g = grants(
            json!([{"Allow_Admin_UI": true, "ALLOW_DCR": true, "Users": ["*"],
                                "RESOURCES": ["*"], "extraclaims": {"team": "x"},
                                "IncludeInUserInfo": true, "unknown": [1, 2]}]),
        );
        assert!(g.allow_admin_ui && g.allow_dcr && g.include_in_userinfo);
        assert!(g.allows("a@b", "c"));
        assert_eq!(g.extra_claims["team"], json!("x"));
        // Exact name preferred over a case-folded one.
        let g = grants(json!([{"allow_dcr": true, "Allow_DCR": false}]));
        assert!(g.allow_dcr);
        // null reads as absent.
        let g = grants(json!([{"allow_dcr": null, "users": null, "extraClaims": null}]));
        assert_eq!(
            g,
            Grants {
                rules: vec![Rule::default()],
                ..Grants::default()
            }
        );
    }

    #[test]
    fn extra_claims_merge() {
        let g = grants(json!([
            {"extraClaims": {"groups": ["admin", "eng"], "team": "platform", "level": 3,
                             "beta": true, "nested": {"a": 1}, "empty": []}},
            {"extraClaims": {"groups": ["eng", "ops", 7, true, ["deep"], {"x": 1}, null],
                             "team": "other", "level": 9, "beta": false}},
        ]));
        assert_eq!(
            Value::Object(g.extra_claims),
            json!({
                "groups": ["admin", "eng", "ops", "7", "true", "deep"],
                "team": "platform",
                "level": 3,
                "beta": true
            })
        );
    }

    #[test]
    fn extra_claims_mixed_scalar_and_array() {
        // tsidp: once any rule gives an array, the claim is an array holding the scalars too.
        let m = merge_extra_claims([
            &obj(json!({"foo": "bar"})),
            &obj(json!({"foo": ["baz", "bar"]})),
            &obj(json!({"foo": 1.5})),
        ]);
        assert_eq!(Value::Object(m), json!({"foo": ["bar", "baz", "1.5"]}));
        // Array first, scalar later.
        let m = merge_extra_claims([&obj(json!({"foo": ["a"]})), &obj(json!({"foo": "b"}))]);
        assert_eq!(Value::Object(m), json!({"foo": ["a", "b"]}));
        // A string and a number that stringify alike are one value.
        let m = merge_extra_claims([&obj(json!({"n": ["1"]})), &obj(json!({"n": [1]}))]);
        assert_eq!(Value::Object(m), json!({"n": ["1"]}));
    }

    #[test]
    fn extra_claims_objects_and_null_dropped() {
        let m = merge_extra_claims([
            &obj(json!({"a": {"x": 1}, "b": null, "c": [{"x": 1}, null], "d": {"y": 2}})),
            &obj(json!({"d": "kept"})),
        ]);
        assert_eq!(Value::Object(m), json!({"d": "kept"}));
    }

    #[test]
    fn userinfo_extra_claims_only_from_flagged_rules() {
        let g = grants(json!([
            {"extraClaims": {"secret_team": "red", "groups": ["a"]}},
            {"extraClaims": {"groups": ["b"], "dept": "ops"}, "includeInUserInfo": true},
        ]));
        assert!(g.include_in_userinfo);
        assert_eq!(
            Value::Object(g.extra_claims),
            json!({"secret_team": "red", "groups": ["a", "b"], "dept": "ops"})
        );
        assert_eq!(
            Value::Object(g.userinfo_extra_claims),
            json!({"groups": ["b"], "dept": "ops"})
        );
    }

    #[test]
    fn protected_claims_refused() {
        for name in PROTECTED_CLAIMS {
            let err = from_cap_map(&caps(json!([
                {"extraClaims": {"groups": ["ok"]}},
                {"extraClaims": {*name: "x"}}
            ])))
            .unwrap_err();
            assert_eq!(err, GrantError::ProtectedClaim((*name).to_owned()));
        }
        // Refused whatever the value, and whatever includeInUserInfo says.
        let err = from_cap_map(&caps(json!([{"extraClaims": {"email": null}}]))).unwrap_err();
        assert_eq!(err, GrantError::ProtectedClaim("email".into()));
        let msg = err.to_string();
        assert!(msg.contains("protected claim \"email\""), "{msg}");
        assert!(msg.contains(CAP_TSIDP), "{msg}");
        // Not protected: claim names are case-sensitive, and profile claims are allowed.
        for name in ["Email", "name", "preferred_username", "picture", "groups"] {
            assert!(from_cap_map(&caps(json!([{"extraClaims": {name: "x"}}]))).is_ok());
        }
    }

    #[test]
    fn malformed_rules() {
        for (rules, needle) in [
            (
                json!(["allow_dcr"]),
                "rule #0 must be a JSON object, not a string",
            ),
            (
                json!([{}, 42]),
                "rule #1 must be a JSON object, not a number",
            ),
            (json!([[{"allow_dcr": true}]]), "not an array"),
            (
                json!([{"allow_dcr": "true"}]),
                "\"allow_dcr\" must be a boolean",
            ),
            (
                json!([{"allow_admin_ui": 1}]),
                "\"allow_admin_ui\" must be a boolean",
            ),
            (
                json!([{"includeInUserInfo": "yes"}]),
                "\"includeInUserInfo\" must be a boolean",
            ),
            (
                json!([{"users": "alice@example.com"}]),
                "\"users\" must be a list of strings",
            ),
            (
                json!([{"users": ["a", 1]}]),
                "\"users\" must be a list of strings, not a number",
            ),
            (
                json!([{"resources": {"a": 1}}]),
                "\"resources\" must be a list of strings",
            ),
            (
                json!([{"extraClaims": ["groups"]}]),
                "\"extraClaims\" must be an object",
            ),
        ] {
            match from_cap_map(&caps(rules.clone())) {
                Err(GrantError::Malformed(msg)) => {
                    assert!(msg.contains(needle), "{rules}: {msg}")
                }
                other => panic!("{rules}: {other:?}"),
            }
        }
    }
}
