//! Hostile requests, as a table: each case states the exact status and `error` code, and
//! every case is also checked to issue nothing (no `code` in a redirect or page, no token in
//! a body) and never to answer 500. All cases run, then every failure is reported at once.

mod common;

use std::sync::Arc;

use common::*;
use latchkey_oidc::jose::{Alg, SigningKey};
use latchkey_store::unix_now;
use latchkey_testkit::{Backend, Pkce, b64, basic, jwt_parts};
use serde_json::{Value, json};

enum Req {
    /// GET /authorize?query, signed in as alice (so a wrongly accepted request would issue).
    Authorize(String),
    Post {
        path: &'static str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    },
    /// GET /userinfo with this Authorization header value.
    Userinfo(String),
}

#[derive(Debug)]
enum Want {
    /// 400 HTML page, no Location.
    Page,
    /// 303 to the client's redirect URI with this error (and iss and state).
    Redirect(&'static str),
    /// RFC 6749 JSON error.
    OAuth(u16, &'static str),
    /// 401 invalid_client with `WWW-Authenticate: Basic`.
    BasicChallenge,
    /// Userinfo: 401 invalid_token.
    InvalidToken,
    /// Introspection: 200 {"active": false}.
    Inactive,
}

struct Case {
    name: String,
    req: Req,
    want: Want,
}

const STATE: &str = "st-hostile";

fn case(name: impl Into<String>, req: Req, want: Want) -> Case {
    Case {
        name: name.into(),
        req,
        want,
    }
}

fn post(path: &'static str, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Req {
    Req::Post {
        path,
        content_type,
        body: body.into(),
        headers: Vec::new(),
    }
}

fn post_h(path: &'static str, body: impl Into<Vec<u8>>, headers: Vec<(String, String)>) -> Req {
    Req::Post {
        path,
        content_type: Some(FORM),
        body: body.into(),
        headers,
    }
}

fn basic_h(c: &TestClient) -> Vec<(String, String)> {
    vec![(
        "authorization".into(),
        basic(&c.id, c.secret.as_deref().unwrap_or_default()),
    )]
}

/// A /token request authenticated by HTTP Basic as `c`.
fn token_as(c: &TestClient, pairs: &[(&str, &str)]) -> Req {
    post_h("/token", form(pairs), basic_h(c))
}

async fn run(h: &Harness, req: &Req) -> Resp {
    match req {
        Req::Authorize(query) => {
            h.get(
                &format!("{}?{query}", h.url("/authorize")),
                &[(USER, "alice")],
            )
            .await
        }
        Req::Post {
            path,
            content_type,
            body,
            headers,
        } => {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            h.post_raw(path, *content_type, body.clone(), &headers)
                .await
        }
        Req::Userinfo(auth) => h.get(&h.url("/userinfo"), &[("authorization", auth)]).await,
    }
}

fn check(h: &Harness, name: &str, want: &Want, r: &Resp) {
    assert_ne!(r.status, 500, "{name}: 500: {}", r.body);
    r.assert_nothing_issued(name);
    match want {
        Want::Page => r.assert_error_page(name),
        Want::Redirect(error) => {
            r.assert_redirect_error(&h.issuer, REDIRECT, error, name);
            let q = r.redirect_params(REDIRECT);
            assert_eq!(q.get("state").map(String::as_str), Some(STATE), "{name}");
        }
        Want::OAuth(status, error) => {
            r.assert_oauth_error(*status, error, name);
            assert_eq!(r.header("cache-control"), Some("no-store"), "{name}");
        }
        Want::BasicChallenge => {
            r.assert_oauth_error(401, "invalid_client", name);
            let challenge = r.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Basic "), "{name}: {challenge:?}");
        }
        Want::InvalidToken => r.assert_invalid_token(name),
        Want::Inactive => {
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(r.json(), json!({"active": false}), "{name}");
        }
    }
}

/// Runs every case (each in its own task, so one failure does not hide the others).
async fn run_table(h: Arc<Harness>, cases: Vec<Case>) {
    let total = cases.len();
    let mut failures = Vec::new();
    for c in cases {
        let h2 = h.clone();
        let name = c.name.clone();
        let outcome = tokio::spawn(async move {
            let r = run(&h2, &c.req).await;
            check(&h2, &c.name, &c.want, &r);
        })
        .await;
        if let Err(e) = outcome {
            let msg = e
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_default();
            failures.push(format!("[{name}] {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn authorize_query(client: &TestClient, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut base: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid email"),
        ("state", STATE),
        ("nonce", "n"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    base.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    base.extend(extra.iter().filter(|(_, v)| !v.is_empty()));
    form(&base)
}

fn forge(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

#[tokio::test]
async fn hostile_requests_sqlite() {
    hostile_requests(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_requests_postgres() {
    hostile_requests(Backend::Postgres).await;
}

async fn hostile_requests(backend: Backend) {
    let h = Harness::new(backend).await;
    let conf = h.confidential().await;
    let other = h.confidential().await;
    let public = h.public_client().await;
    let post_client = h
        .client_with(ClientSpec {
            auth: ClientAuth::Post,
            ..ClientSpec::default()
        })
        .await;
    let multi = h
        .client_with(ClientSpec {
            redirect_uris: vec![REDIRECT.into(), "https://rp.example/cb2".into()],
            ..ClientSpec::default()
        })
        .await;
    let pkce = Pkce::new();
    let q = |extra: &[(&str, &str)]| authorize_query(&conf, &pkce, extra);
    let mut cases = Vec::new();

    // --- /authorize: no trustworthy redirect target → a page, never a Location --------
    cases.push(case(
        "missing client_id",
        Req::Authorize(q(&[("client_id", "")])),
        Want::Page,
    ));
    cases.push(case(
        "unknown client_id",
        Req::Authorize(q(&[("client_id", "no-such-client")])),
        Want::Page,
    ));
    cases.push(case(
        "unknown client_id with an attacker redirect",
        Req::Authorize(q(&[
            ("client_id", "no-such-client"),
            ("redirect_uri", "https://evil.example/cb"),
        ])),
        Want::Page,
    ));
    for (what, uri) in [
        ("added query", "https://rp.example/cb?x=1"),
        ("trailing slash", "https://rp.example/cb/"),
        ("host case change", "https://RP.example/cb"),
        ("path case change", "https://rp.example/CB"),
        ("fragment", "https://rp.example/cb#frag"),
        ("empty fragment", "https://rp.example/cb#"),
        ("other host", "https://evil.example/cb"),
        ("suffix host", "https://rp.example.evil.example/cb"),
        ("userinfo host", "https://rp.example@evil.example/cb"),
        ("other scheme", "http://rp.example/cb"),
        ("added default port", "https://rp.example:443/cb"),
        ("added port", "https://rp.example:8443/cb"),
        ("dot segments", "https://rp.example/cb/../cb"),
        ("percent-encoded path", "https://rp.example/%63b"),
        ("javascript", "javascript:alert(1)"),
        ("relative", "/cb"),
    ] {
        cases.push(case(
            format!("redirect_uri {what}"),
            Req::Authorize(q(&[("redirect_uri", uri)])),
            Want::Page,
        ));
    }
    cases.push(case(
        "no redirect_uri and several registered",
        Req::Authorize(authorize_query(&multi, &pkce, &[("redirect_uri", "")])),
        Want::Page,
    ));
    cases.push(case(
        "duplicated scope at /authorize",
        Req::Authorize(format!("{}&scope=admin", q(&[]))),
        Want::Page,
    ));
    cases.push(case(
        "duplicated redirect_uri at /authorize",
        Req::Authorize(format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            q(&[])
        )),
        Want::Page,
    ));
    cases.push(case(
        "non-UTF-8 at /authorize",
        Req::Authorize(format!("{}&login_hint=%FF%FE", q(&[]))),
        Want::Page,
    ));
    cases.push(case(
        "JSON POST to /authorize",
        post(
            "/authorize",
            Some("application/json"),
            json!({"client_id": conf.id, "response_type": "code"}).to_string(),
        ),
        Want::Page,
    ));
    cases.push(case(
        "POST to /authorize without Content-Type",
        post("/authorize", None, q(&[])),
        Want::Page,
    ));
    cases.push(case(
        "oversized POST to /authorize",
        post(
            "/authorize",
            Some(FORM),
            format!("{}&pad={}", q(&[]), "a".repeat(70 * 1024)),
        ),
        Want::Page,
    ));

    // --- /authorize: client and redirect are good → the error goes back to the client ----
    for (name, extra, error) in [
        (
            "response_type=token",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            "response_type=code id_token",
            vec![("response_type", "code id_token")],
            "unsupported_response_type",
        ),
        (
            "missing response_type",
            vec![("response_type", "")],
            "invalid_request",
        ),
        (
            "code_challenge_method=plain",
            vec![("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "code_challenge without method",
            vec![("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "code_challenge_method without challenge",
            vec![("code_challenge", "")],
            "invalid_request",
        ),
        (
            "malformed code_challenge",
            vec![("code_challenge", "short")],
            "invalid_request",
        ),
        (
            "unknown code_challenge_method",
            vec![("code_challenge_method", "S512")],
            "invalid_request",
        ),
        (
            "response_mode=fragment",
            vec![("response_mode", "fragment")],
            "invalid_request",
        ),
        (
            "request object",
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            "request_uri",
            vec![("request_uri", "https://evil.example/req")],
            "request_uri_not_supported",
        ),
        (
            "prompt=none with login",
            vec![("prompt", "none login")],
            "invalid_request",
        ),
        (
            "negative max_age",
            vec![("max_age", "-1")],
            "invalid_request",
        ),
        (
            "non-numeric max_age",
            vec![("max_age", "soon")],
            "invalid_request",
        ),
    ] {
        cases.push(case(name, Req::Authorize(q(&extra)), Want::Redirect(error)));
    }
    cases.push(case(
        "public client without PKCE",
        Req::Authorize(authorize_query(
            &public,
            &pkce,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        )),
        Want::Redirect("invalid_request"),
    ));

    // --- /token: codes ----------------------------------------------------------------------
    let grant = |code: &str, verifier: &str| {
        vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".into(), code.into()),
            ("redirect_uri".into(), REDIRECT.into()),
            ("code_verifier".into(), verifier.into()),
        ]
    };
    let token_pairs = |c: &TestClient, pairs: Vec<(String, String)>| {
        let pairs: Vec<(String, String)> =
            pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        token_as(c, &refs(&pairs))
    };
    let (code, _) = h.code(&conf, "alice", &[]).await;
    cases.push(case(
        "wrong code_verifier",
        token_pairs(&conf, grant(&code, &Pkce::new().verifier)),
        Want::OAuth(400, "invalid_grant"),
    ));
    let (code, _) = h.code(&conf, "alice", &[]).await;
    cases.push(case(
        "missing code_verifier",
        token_pairs(&conf, grant(&code, "")),
        Want::OAuth(400, "invalid_grant"),
    ));
    let (code, _) = h
        .code(
            &conf,
            "alice",
            &[("code_challenge", ""), ("code_challenge_method", "")],
        )
        .await;
    cases.push(case(
        "PKCE downgrade: verifier without a challenge",
        token_pairs(&conf, grant(&code, &Pkce::new().verifier)),
        Want::OAuth(400, "invalid_grant"),
    ));
    let (code, p) = h.code(&conf, "alice", &[]).await;
    cases.push(case(
        "code of another client",
        token_pairs(&other, grant(&code, &p.verifier)),
        Want::OAuth(400, "invalid_grant"),
    ));
    let (code, p) = h.code(&conf, "alice", &[]).await;
    let mut pairs = grant(&code, &p.verifier);
    pairs[2].1 = "https://rp.example/cb2".into();
    cases.push(case(
        "redirect_uri mismatch at /token",
        token_pairs(&conf, pairs),
        Want::OAuth(400, "invalid_grant"),
    ));
    let (code, p) = h.code(&conf, "alice", &[]).await;
    let mut pairs = grant(&code, &p.verifier);
    pairs[2].1 = String::new();
    cases.push(case(
        "redirect_uri missing at /token",
        token_pairs(&conf, pairs),
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "unknown code",
        token_pairs(&conf, grant("no-such-code", &p.verifier)),
        Want::OAuth(400, "invalid_grant"),
    ));
    cases.push(case(
        "missing code",
        token_pairs(&conf, grant("", &p.verifier)),
        Want::OAuth(400, "invalid_request"),
    ));

    // --- /token: client authentication (each failure counts toward the rate limit) -------
    let (code, p) = h.code(&conf, "alice", &[]).await;
    let good = grant(&code, &p.verifier);
    let good_form = form(&refs(&good));
    let wrong_secret = TestClient {
        secret: Some("wrong-secret".into()),
        ..conf.clone()
    };
    cases.push(case(
        "bad client secret (Basic)",
        token_pairs(&wrong_secret, good.clone()),
        Want::BasicChallenge,
    ));
    cases.push(case(
        "bad client secret (post)",
        post(
            "/token",
            Some(FORM),
            format!(
                "{good_form}&client_id={}&client_secret=wrong",
                post_client.id
            ),
        ),
        Want::OAuth(401, "invalid_client"),
    ));
    cases.push(case(
        "unknown client (Basic)",
        post_h(
            "/token",
            good_form.clone(),
            vec![("authorization".into(), basic("no-such-client", "x"))],
        ),
        Want::BasicChallenge,
    ));
    cases.push(case(
        "malformed Basic credentials",
        post_h(
            "/token",
            good_form.clone(),
            vec![("authorization".into(), "Basic !!!not-base64".into())],
        ),
        Want::BasicChallenge,
    ));
    cases.push(case(
        "confidential client without its secret",
        post(
            "/token",
            Some(FORM),
            format!("{good_form}&client_id={}", conf.id),
        ),
        Want::OAuth(401, "invalid_client"),
    ));
    cases.push(case(
        "public client presenting a secret",
        post(
            "/token",
            Some(FORM),
            format!("{good_form}&client_id={}&client_secret=guess", public.id),
        ),
        Want::OAuth(401, "invalid_client"),
    ));
    cases.push(case(
        "no client authentication",
        post("/token", Some(FORM), good_form.clone()),
        Want::OAuth(401, "invalid_client"),
    ));
    cases.push(case(
        "both Basic and client_secret_post",
        post_h(
            "/token",
            format!(
                "{good_form}&client_id={}&client_secret={}",
                conf.id,
                conf.secret.as_deref().unwrap()
            ),
            basic_h(&conf),
        ),
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "client_id disagreeing with Basic",
        post_h(
            "/token",
            format!("{good_form}&client_id={}", other.id),
            basic_h(&conf),
        ),
        Want::OAuth(400, "invalid_request"),
    ));

    // --- /token: grant types and request syntax --------------------------------------------
    for (name, pairs, want) in [
        (
            "unknown grant_type",
            vec![("grant_type", "magic")],
            Want::OAuth(400, "unsupported_grant_type"),
        ),
        (
            "password grant",
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "hunter2"),
            ],
            Want::OAuth(400, "unsupported_grant_type"),
        ),
        (
            "implicit as a grant",
            vec![("grant_type", "implicit")],
            Want::OAuth(400, "unsupported_grant_type"),
        ),
        (
            "missing grant_type",
            vec![("code", "x")],
            Want::OAuth(400, "invalid_request"),
        ),
        (
            "garbage refresh token",
            vec![("grant_type", "refresh_token"), ("refresh_token", "nope")],
            Want::OAuth(400, "invalid_grant"),
        ),
        (
            "missing refresh token",
            vec![("grant_type", "refresh_token")],
            Want::OAuth(400, "invalid_request"),
        ),
    ] {
        cases.push(case(name, token_as(&conf, &pairs), want));
    }
    cases.push(case(
        "duplicated grant_type at /token",
        post_h(
            "/token",
            format!("{good_form}&grant_type=client_credentials"),
            basic_h(&conf),
        ),
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "oversized body at /token",
        post_h(
            "/token",
            format!("{good_form}&pad={}", "a".repeat(65 * 1024)),
            basic_h(&conf),
        ),
        Want::OAuth(413, "invalid_request"),
    ));
    cases.push(case(
        "non-UTF-8 form at /token",
        post_h(
            "/token",
            format!("{good_form}&scope=%FF%FE"),
            basic_h(&conf),
        ),
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "raw non-UTF-8 bytes at /token",
        post_h(
            "/token",
            [
                b"grant_type=client_credentials&scope=".as_slice(),
                &[0xff, 0xfe],
            ]
            .concat(),
            basic_h(&conf),
        ),
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "JSON body at /token",
        Req::Post {
            path: "/token",
            content_type: Some("application/json"),
            body: json!({"grant_type": "client_credentials"})
                .to_string()
                .into_bytes(),
            headers: basic_h(&conf),
        },
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "no Content-Type at /token",
        Req::Post {
            path: "/token",
            content_type: None,
            body: b"grant_type=client_credentials".to_vec(),
            headers: basic_h(&conf),
        },
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "multipart at /token",
        Req::Post {
            path: "/token",
            content_type: Some("multipart/form-data; boundary=x"),
            body: b"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n".to_vec(),
            headers: basic_h(&conf),
        },
        Want::OAuth(400, "invalid_request"),
    ));

    // --- refresh tokens ----------------------------------------------------------------------
    let t = h.login(&conf, "alice").await;
    cases.push(case(
        "refresh token of another client",
        token_as(
            &other,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.refresh_token()),
            ],
        ),
        Want::OAuth(400, "invalid_grant"),
    ));
    cases.push(case(
        "refresh asking for a wider scope",
        token_as(
            &conf,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.refresh_token()),
                ("scope", "openid email admin"),
            ],
        ),
        Want::OAuth(400, "invalid_scope"),
    ));
    cases.push(case(
        "access token as a refresh token",
        token_as(
            &conf,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &t.access),
            ],
        ),
        Want::OAuth(400, "invalid_grant"),
    ));

    // --- bearer tokens: userinfo 401 invalid_token AND introspection inactive -----------
    let now = unix_now();
    let claims = json!({
        "iss": h.issuer, "sub": "alice", "aud": [conf.id], "exp": now + 3600, "iat": now,
        "jti": "forged-jti", "client_id": conf.id, "scope": "openid email",
    });
    let (real_header, _) = jwt_parts(&t.access);
    let rs_kid = real_header["kid"].as_str().unwrap().to_owned();
    let keys = h.provider.keys.keys();
    let rs = keys.signer(Alg::RS256).unwrap();
    let es_kid = keys.signer(Alg::ES256).unwrap().kid().to_owned();
    let sign_real = |c: &Value| rs.sign_jwt("at+jwt", c).unwrap();
    let foreign = SigningKey::generate(Alg::ES256).unwrap();
    let foreign_token = foreign.sign_jwt("at+jwt", &claims).unwrap();
    let foreign_sig = foreign_token.rsplit('.').next().unwrap().to_owned();
    let tampered = {
        let (_, mut c) = jwt_parts(&t.access);
        c["sub"] = json!("admin");
        let parts: Vec<&str> = t.access.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64(c.to_string().as_bytes()),
            parts[2]
        )
    };
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        match v {
            Value::Null => {
                c.as_object_mut().unwrap().remove(k);
            }
            v => c[k] = v,
        }
        c
    };
    let bearer_cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            forge(
                &json!({"alg": "none", "kid": rs_kid, "typ": "at+jwt"}),
                &claims,
                "",
            ),
        ),
        (
            "alg none without kid",
            forge(&json!({"alg": "none", "typ": "at+jwt"}), &claims, ""),
        ),
        (
            "alg HS256 with our RSA kid",
            forge(
                &json!({"alg": "HS256", "kid": rs_kid, "typ": "at+jwt"}),
                &claims,
                &b64(b"0123456789abcdef0123456789abcdef"),
            ),
        ),
        ("tampered payload", tampered),
        ("signed by another key", foreign_token),
        (
            "signed by another key, claiming our kid",
            forge(
                &json!({"alg": "ES256", "kid": es_kid, "typ": "at+jwt"}),
                &claims,
                &foreign_sig,
            ),
        ),
        ("expired", sign_real(&with("exp", json!(now - 60)))),
        (
            "exp as a string",
            sign_real(&with("exp", json!("9999999999"))),
        ),
        ("no exp", sign_real(&with("exp", Value::Null))),
        ("no jti", sign_real(&with("jti", Value::Null))),
        (
            "other issuer",
            sign_real(&with("iss", json!("https://evil.example"))),
        ),
        ("typ JWT", rs.sign_jwt("JWT", &claims).unwrap()),
        ("ID token as an access token", t.id_token().to_owned()),
        (
            "refresh token as an access token",
            t.refresh_token().to_owned(),
        ),
        ("garbage", "garbage".into()),
        ("three empty parts", "..".into()),
        (
            "oversized",
            format!("{}.{}.x", "a".repeat(10_000), "b".repeat(10_000)),
        ),
    ];
    for (name, token) in bearer_cases {
        cases.push(case(
            format!("userinfo: {name}"),
            Req::Userinfo(format!("Bearer {token}")),
            Want::InvalidToken,
        ));
        if name.starts_with("refresh token") {
            continue; // introspection rightly knows refresh tokens
        }
        cases.push(case(
            format!("introspection: {name}"),
            post_h("/introspect", form(&[("token", &token)]), basic_h(&conf)),
            Want::Inactive,
        ));
    }
    cases.push(case(
        "userinfo: Basic instead of Bearer",
        Req::Userinfo(basic(&conf.id, "x")),
        Want::OAuth(400, "invalid_request"),
    ));
    cases.push(case(
        "userinfo: token in header and body",
        Req::Post {
            path: "/userinfo",
            content_type: Some(FORM),
            body: form(&[("access_token", &t.access)]).into_bytes(),
            headers: vec![("authorization".into(), format!("Bearer {}", t.access))],
        },
        Want::OAuth(400, "invalid_request"),
    ));
    drop(keys);

    let h = Arc::new(h);
    run_table(h.clone(), cases).await;

    // The real token survived all of that (nothing above revoked it by accident)...
    assert_eq!(h.userinfo(&t.access).await.status, 200);
    // ...and a loopback client may still use any port (RFC 8252), but only on loopback.
    let native = h
        .client_with(ClientSpec {
            public: true,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..ClientSpec::default()
        })
        .await;
    let native_q = |uri: &str| authorize_query(&native, &pkce, &[("redirect_uri", uri)]);
    let r = h
        .get(
            &format!(
                "{}?{}",
                h.url("/authorize"),
                native_q("http://127.0.0.1:51234/cb")
            ),
            &[(USER, "alice")],
        )
        .await;
    assert!(
        r.redirect_params("http://127.0.0.1:51234/cb")
            .contains_key("code")
    );
    let r = h
        .get(
            &format!(
                "{}?{}",
                h.url("/authorize"),
                native_q("http://localhost:51234/cb")
            ),
            &[(USER, "alice")],
        )
        .await;
    r.assert_error_page("loopback by name");

    Arc::try_unwrap(h)
        .ok()
        .expect("harness still shared")
        .finish()
        .await;
}

#[tokio::test]
async fn expired_code() {
    let h = Harness::with(Backend::Sqlite, |s| s.code_lifetime = 0).await;
    let c = h.confidential().await;
    let (code, pkce) = h.code(&c, "alice", &[]).await;
    let r = h.redeem(&c, &code, Some(&pkce.verifier)).await;
    r.assert_oauth_error(400, "invalid_grant", "expired code");
    h.finish().await;
}

#[tokio::test]
async fn client_authentication_failures_are_rate_limited() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let wrong = TestClient {
        secret: Some("wrong".into()),
        ..c.clone()
    };
    let cc = [("grant_type", "client_credentials")];
    for i in 0..latchkey_oidc::limits::AUTH_FAILURES_PER_MINUTE {
        let r = h.token(&wrong, &cc).await;
        assert_eq!(r.status, 401, "failure {i}: {}", r.body);
    }
    // Over the quota: refused before the credentials are looked at, with Retry-After.
    let r = h.token(&wrong, &cc).await;
    assert_eq!(
        r.status, 401,
        "the quota-exceeding failure itself: {}",
        r.body
    );
    let r = h.token(&c, &cc).await;
    r.assert_oauth_error(429, "invalid_client", "blocked address");
    assert!(
        r.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );
    h.finish().await;
}
