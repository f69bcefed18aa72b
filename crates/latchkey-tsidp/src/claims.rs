//! The identity claims tsidp puts in ID tokens and returns from `/userinfo`.
//!
//! The engine adds the registered claims (`iss`, `sub`, `aud`, `exp`, `iat`, `azp`, `nonce`, …);
//! here are the claims that describe who is connecting. Compared with tsidp
//! (server/token.go `issueTokens`, server/userinfo.go):
//!
//! * tsidp puts `email` in the ID token only with the `email` scope and `preferred_username`
//!   and `picture` only with the `profile` scope; [`claim_scope`] says which claim needs which
//!   scope so the engine can filter. `nid`, `node`, `tailnet`, `uid`, `key`, `addresses` are
//!   always present, as in tsidp.
//! * tsidp's ID token has no `name` and no `username` (its `UserName` field is never set);
//!   these are added here, `name` under the `profile` scope.
//! * `groups` (from WhoIs `UserProfile.Groups`) is not in tsidp at all (tsidp issue #180).
//! * tsidp's `tailnet` is everything after the first dot of the node name, trailing dot
//!   included (`"tail1234.ts.net."`); here it has no trailing dot (`"tail1234.ts.net"`), as
//!   tsidp's own documentation of the claim says.
//! * tsidp lets a non-protected extra claim overwrite an identity claim (e.g. `name`,
//!   `picture`, `preferred_username`); here the identity claim wins, except `groups`, which
//!   is the union of both.

use serde_json::{Map, Value};

use crate::grants::{Grants, is_protected};
use crate::whois::WhoIs;

/// Claims the token engine sets itself; an extra claim from a grant never replaces them.
use latchkey_oidc::tokens::REGISTERED_CLAIMS as ENGINE_CLAIMS;

/// The OpenID scope a claim is released under, or `None` when it is always released
/// (tsidp gates only `email` behind `email`, and `preferred_username`/`picture` behind
/// `profile`; `name` joins them as OIDC Core §5.4 places it in `profile`).
pub fn claim_scope(claim: &str) -> Option<&'static str> {
    match claim {
        "email" => Some("email"),
        "name" | "preferred_username" | "picture" => Some("profile"),
        _ => None,
    }
}

/// The user's ID: WhoIs `Node.User` as tsidp uses it (`sub`, `uid`), falling back to
/// `UserProfile.ID` when a body left it out. tailscaled's WhoIs returns the profile of
/// `Node.User`, so the two agree.
pub fn user_id(w: &WhoIs) -> i64 {
    if w.node.user != 0 {
        w.node.user
    } else {
        w.user.id
    }
}

/// The subject: `"userid:<n>"`, tsidp's `tailcfg.UserID.String()`.
pub fn subject(w: &WhoIs) -> String {
    format!("userid:{}", user_id(w))
}

/// tsidp's `realishEmail`: a LoginName ending in `@github` or `@passkey` (no domain) gets
/// `"." + issuer_host` appended, so `alice@github` becomes `alice@github.idp.tail1234.ts.net`.
/// `issuer_host` is tsidp's own FQDN without trailing dot and without port.
pub fn email_for(login_name: &str, issuer_host: &str) -> String {
    if login_name.ends_with("@github") || login_name.ends_with("@passkey") {
        format!("{login_name}.{}", issuer_host.trim_end_matches('.'))
    } else {
        login_name.to_owned()
    }
}

/// The part of the LoginName before the first `@`, or `None` when there is no `@` or
/// nothing before it (tsidp's `strings.Cut(LoginName, "@")` + `omitempty`).
fn local_part(login_name: &str) -> Option<&str> {
    login_name
        .split_once('@')
        .map(|(local, _)| local)
        .filter(|l| !l.is_empty())
}

/// The identity claims for the peer `w` (no registered claims: the engine sets those).
/// Empty strings and lists are left out, except `nid`, `key` and `addresses`, which tsidp
/// always sends.
pub fn identity_claims(w: &WhoIs, issuer_host: &str) -> Map<String, Value> {
    fn put_str(m: &mut Map<String, Value>, k: &str, v: &str) {
        if !v.is_empty() {
            m.insert(k.to_owned(), Value::from(v));
        }
    }
    let mut m = Map::new();
    put_str(&mut m, "email", &email_for(&w.user.login_name, issuer_host));
    put_str(&mut m, "name", &w.user.display_name);
    if let Some(local) = local_part(&w.user.login_name) {
        put_str(&mut m, "preferred_username", local);
        put_str(&mut m, "username", local);
    }
    put_str(&mut m, "picture", &w.user.profile_pic_url);
    put_str(&mut m, "node", &w.node.name);
    if let Some(tailnet) = w.tailnet() {
        put_str(&mut m, "tailnet", &tailnet);
    }
    m.insert("nid".into(), Value::from(w.node.id));
    let uid = user_id(w);
    if uid != 0 {
        m.insert("uid".into(), Value::from(uid));
    }
    put_str(&mut m, "key", &w.node.key);
    m.insert("addresses".into(), Value::from(w.node.addresses.clone()));
    if !w.user.groups.is_empty() {
        m.insert("groups".into(), Value::from(w.user.groups.clone()));
    }
    m
}

/// Adds the grants' extra claims to `claims`. An extra claim never replaces a claim already
/// there (protected names were refused by [`crate::grants::from_cap_map`]; any other
/// collision: the identity claim wins) nor a claim the engine sets, except `groups`, which
/// becomes the union of both (WhoIs groups first), so an app may authorise on either.
pub fn with_extra_claims(claims: &mut Map<String, Value>, grants: &Grants) {
    merge_extra(claims, &grants.extra_claims, None);
}

/// What tsidp's `/userinfo` returns besides `sub` (which the engine adds): `name`, `email`,
/// `picture`, `username` from `identity` (the output of [`identity_claims`]), plus the extra
/// claims of the rules marked `includeInUserInfo` — under the same rules as
/// [`with_extra_claims`]; an extra `groups` is unioned with the WhoIs groups from `identity`.
/// tsidp does not filter userinfo by scope.
pub fn userinfo_claims(identity: &Map<String, Value>, grants: &Grants) -> Map<String, Value> {
    // `groups` beyond tsidp: the WhoIs groups are always there, so apps can authorise on them.
    let mut m: Map<String, Value> = ["name", "email", "picture", "username", "groups"]
        .into_iter()
        .filter_map(|k| identity.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect();
    if grants.include_in_userinfo {
        merge_extra(
            &mut m,
            &grants.userinfo_extra_claims,
            identity.get("groups"),
        );
    }
    m
}

/// Merges `extra` into `target`; `base_groups`, when given, are the groups `target` should
/// be considered to hold for the `groups` union.
fn merge_extra(
    target: &mut Map<String, Value>,
    extra: &Map<String, Value>,
    base_groups: Option<&Value>,
) {
    for (name, value) in extra {
        if is_protected(name) || ENGINE_CLAIMS.contains(&name.as_str()) {
            tracing::warn!(claim = %name, "ignoring extra claim that may not be set by a grant");
            continue;
        }
        if name == "groups" {
            let base = target.get("groups").or(base_groups).cloned();
            let merged = match base {
                None => value.clone(),
                Some(base) => union_groups(&base, value),
            };
            target.insert(name.clone(), merged);
            continue;
        }
        if target.contains_key(name) {
            tracing::debug!(claim = %name, "extra claim collides with an identity claim; identity wins");
            continue;
        }
        target.insert(name.clone(), value.clone());
    }
}

/// Adds what the Latchkey directory says about this person: its groups join `groups`
/// (after the tailnet's), and, when `custom` (the `profile` scope), its custom claims fill
/// names nothing else set. Protected and engine names are never taken from the directory.
pub fn with_directory(
    claims: &mut Map<String, Value>,
    directory: &latchkey_store::DirectoryClaims,
    custom: bool,
) {
    if !directory.groups.is_empty() {
        let theirs = Value::from(directory.groups.clone());
        let merged = match claims.get("groups") {
            Some(ours) => union_groups(ours, &theirs),
            None => theirs,
        };
        claims.insert("groups".into(), merged);
    }
    if !custom {
        return;
    }
    for (name, value) in &directory.claims {
        let reserved =
            name == "groups" || is_protected(name) || ENGINE_CLAIMS.contains(&name.as_str());
        if !reserved && !claims.contains_key(name) {
            claims.insert(name.clone(), value.clone());
        }
    }
}

/// The union of two `groups` values (arrays or single strings), first-seen order.
fn union_groups(a: &Value, b: &Value) -> Value {
    let mut out: Vec<Value> = Vec::new();
    for v in [a, b] {
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            other => vec![other],
        };
        for item in items {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::grants::{CAP_TSIDP, from_cap_map};
    use crate::whois::{CapMap, Node, UserProfile};

    const HOST: &str = "idp.tail1234.ts.net";

    fn alice() -> WhoIs {
        WhoIs {
            node: Node {
                id: 1234567890123456,
                stable_id: "nAbCdEf1CNTRL".into(),
                name: "alice-laptop.tail1234.ts.net.".into(),
                user: 987654321,
                key: "nodekey:5b8e".into(),
                addresses: vec![
                    "100.101.102.103/32".into(),
                    "fd7a:115c:a1e0::1234:5678/128".into(),
                ],
                tags: vec![],
                computed_name: "alice-laptop".into(),
                hostname: "alice-laptop".into(),
                os: "linux".into(),
            },
            user: UserProfile {
                id: 987654321,
                login_name: "alice@example.com".into(),
                display_name: "Alice Smith".into(),
                profile_pic_url: "https://pics.example/alice.png".into(),
                groups: vec!["group:eng".into(), "engineering@example.com".into()],
            },
            cap_map: CapMap::new(),
        }
    }

    fn grants(rules: Value) -> Grants {
        let Value::Array(rules) = rules else { panic!() };
        from_cap_map(&CapMap::from([(CAP_TSIDP.to_owned(), rules)])).unwrap()
    }

    #[test]
    fn directory_groups_join_and_custom_claims_fill_gaps() {
        let mut claims = identity_claims(&alice(), HOST);
        let directory = latchkey_store::DirectoryClaims {
            groups: vec!["admins".into(), "group:eng".into()],
            claims: serde_json::from_value(json!({
                "department": "ops",
                "name": "Not Alice",
                "sub": "mallory",
                "email": "mallory@example.com",
                "groups": ["root"],
                "nonce": "x",
            }))
            .unwrap(),
        };
        let mut without_profile = claims.clone();
        with_directory(&mut without_profile, &directory, false);
        assert_eq!(without_profile.get("department"), None);
        with_directory(&mut claims, &directory, true);
        assert_eq!(
            claims["groups"],
            json!(["group:eng", "engineering@example.com", "admins"])
        );
        assert_eq!(without_profile["groups"], claims["groups"]);
        assert_eq!(claims["department"], "ops");
        assert_eq!(claims["name"], "Alice Smith");
        assert_eq!(claims["email"], "alice@example.com");
        for absent in ["sub", "nonce"] {
            assert!(!claims.contains_key(absent), "{absent}");
        }
    }

    #[test]
    fn identity_claims_for_a_user_node() {
        let c = identity_claims(&alice(), HOST);
        assert_eq!(
            Value::Object(c),
            json!({
                "email": "alice@example.com",
                "name": "Alice Smith",
                "preferred_username": "alice",
                "username": "alice",
                "picture": "https://pics.example/alice.png",
                "node": "alice-laptop.tail1234.ts.net.",
                "tailnet": "tail1234.ts.net",
                "nid": 1234567890123456i64,
                "uid": 987654321,
                "key": "nodekey:5b8e",
                "addresses": ["100.101.102.103/32", "fd7a:115c:a1e0::1234:5678/128"],
                "groups": ["group:eng", "engineering@example.com"]
            })
        );
    }

    #[test]
    fn no_registered_claims() {
        let c = identity_claims(&alice(), HOST);
        for k in [
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "nonce", "azp",
        ] {
            assert!(!c.contains_key(k), "{k}");
        }
    }

    #[test]
    fn subject_is_userid() {
        assert_eq!(subject(&alice()), "userid:987654321");
        let mut w = alice();
        w.node.user = 0;
        w.user.id = 55;
        assert_eq!(subject(&w), "userid:55");
        assert_eq!(identity_claims(&w, HOST)["uid"], json!(55));
    }

    #[test]
    fn github_and_passkey_logins_get_email_shape() {
        let mut w = alice();
        for (login, email, local) in [
            ("alice@github", "alice@github.idp.tail1234.ts.net", "alice"),
            ("bob@passkey", "bob@passkey.idp.tail1234.ts.net", "bob"),
            ("carol@github.com", "carol@github.com", "carol"),
            ("dave@passkey.example", "dave@passkey.example", "dave"),
            ("erin@example.com", "erin@example.com", "erin"),
        ] {
            w.user.login_name = login.into();
            let c = identity_claims(&w, HOST);
            assert_eq!(c["email"], json!(email), "{login}");
            assert_eq!(c["preferred_username"], json!(local), "{login}");
            assert_eq!(c["username"], json!(local), "{login}");
        }
        // A trailing dot on the host is not doubled.
        assert_eq!(
            email_for("a@github", "idp.x.ts.net."),
            "a@github.idp.x.ts.net"
        );
    }

    #[test]
    fn empty_fields_omitted() {
        let mut w = alice();
        w.user.profile_pic_url.clear();
        w.user.groups.clear();
        w.user.display_name.clear();
        let c = identity_claims(&w, HOST);
        for k in ["picture", "groups", "name"] {
            assert!(!c.contains_key(k), "{k}");
        }

        // A LoginName without '@' has no local part.
        w.user.login_name = "tagged-devices".into();
        let c = identity_claims(&w, HOST);
        assert_eq!(c["email"], json!("tagged-devices"));
        assert!(!c.contains_key("preferred_username") && !c.contains_key("username"));

        // Nothing known: still nid, key-less, addresses as tsidp always sends them.
        let c = identity_claims(&WhoIs::default(), HOST);
        assert_eq!(Value::Object(c), json!({"nid": 0, "addresses": []}));
    }

    #[test]
    fn extra_claims_added_identity_wins() {
        let g = grants(json!([
            {"extraClaims": {"department": "R&D", "name": "Not Alice", "picture": "x", "level": 3}},
        ]));
        let mut c = identity_claims(&alice(), HOST);
        with_extra_claims(&mut c, &g);
        assert_eq!(c["department"], json!("R&D"));
        assert_eq!(c["level"], json!(3));
        assert_eq!(c["name"], json!("Alice Smith"));
        assert_eq!(c["picture"], json!("https://pics.example/alice.png"));
    }

    #[test]
    fn extra_claims_never_set_protected_or_engine_claims() {
        // Grants built by hand (from_cap_map would refuse the protected ones).
        let g = Grants {
            extra_claims: json!({"sub": "evil", "email": "evil@x", "nonce": "n", "azp": "x",
                                 "auth_time": 1, "amr": ["pwd"], "ok": true})
            .as_object()
            .unwrap()
            .clone(),
            ..Grants::default()
        };
        let mut w = alice();
        w.user.login_name.clear();
        let mut c = identity_claims(&w, HOST);
        with_extra_claims(&mut c, &g);
        for k in ["sub", "email", "nonce", "azp", "auth_time", "amr"] {
            assert!(!c.contains_key(k), "{k}");
        }
        assert_eq!(c["ok"], json!(true));
    }

    #[test]
    fn groups_union() {
        let g = grants(json!([
            {"extraClaims": {"groups": ["admin", "group:eng"]}},
            {"extraClaims": {"groups": ["ops"]}},
        ]));
        let mut c = identity_claims(&alice(), HOST);
        with_extra_claims(&mut c, &g);
        assert_eq!(
            c["groups"],
            json!(["group:eng", "engineering@example.com", "admin", "ops"])
        );

        // No WhoIs groups: the extra claim as given.
        let mut w = alice();
        w.user.groups.clear();
        let mut c = identity_claims(&w, HOST);
        with_extra_claims(&mut c, &g);
        assert_eq!(c["groups"], json!(["admin", "group:eng", "ops"]));

        // A scalar extra `groups` joins the WhoIs list.
        let g = grants(json!([{"extraClaims": {"groups": "admin"}}]));
        let mut c = identity_claims(&alice(), HOST);
        with_extra_claims(&mut c, &g);
        assert_eq!(
            c["groups"],
            json!(["group:eng", "engineering@example.com", "admin"])
        );

        // No extra groups: WhoIs groups untouched.
        let mut c = identity_claims(&alice(), HOST);
        with_extra_claims(&mut c, &Grants::default());
        assert_eq!(c["groups"], json!(["group:eng", "engineering@example.com"]));
    }

    #[test]
    fn userinfo_without_extra_claims() {
        let id = identity_claims(&alice(), HOST);
        let g = grants(json!([{"extraClaims": {"department": "R&D", "groups": ["admin"]}}]));
        let u = userinfo_claims(&id, &g);
        assert_eq!(
            Value::Object(u),
            json!({
                "name": "Alice Smith",
                "email": "alice@example.com",
                "groups": ["group:eng", "engineering@example.com"],
                "picture": "https://pics.example/alice.png",
                "username": "alice"
            })
        );
    }

    #[test]
    fn userinfo_with_included_extra_claims() {
        let mut w = alice();
        w.user.login_name = "alice@github".into();
        w.user.profile_pic_url.clear();
        let id = identity_claims(&w, HOST);
        let g = grants(json!([
            {"extraClaims": {"hidden": "x"}},
            {"extraClaims": {"department": "R&D", "groups": ["admin"], "name": "Nope"},
             "includeInUserInfo": true},
        ]));
        let u = userinfo_claims(&id, &g);
        assert_eq!(
            Value::Object(u),
            json!({
                "name": "Alice Smith",
                "email": "alice@github.idp.tail1234.ts.net",
                "username": "alice",
                "department": "R&D",
                "groups": ["group:eng", "engineering@example.com", "admin"]
            })
        );
    }

    #[test]
    fn scopes() {
        assert_eq!(claim_scope("email"), Some("email"));
        for k in ["name", "preferred_username", "picture"] {
            assert_eq!(claim_scope(k), Some("profile"));
        }
        for k in [
            "username",
            "node",
            "tailnet",
            "nid",
            "uid",
            "key",
            "addresses",
            "groups",
        ] {
            assert_eq!(claim_scope(k), None);
        }
    }
}
