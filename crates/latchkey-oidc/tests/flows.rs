//! Protocol flows against the real router, with the `openidconnect` crate as the independent
//! relying party where it fits. Every scenario runs on SQLite; the main flow also on PostgreSQL.

mod common;

use common::*;
use latchkey_oidc::jose::Alg;
use latchkey_store::unix_now;
use latchkey_testkit::{
    ACCESS_TOKEN_TYPE, Backend, Pkce, RelyingParty, TOKEN_EXCHANGE, b64, jwt_parts, token_exchange,
};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{AccessTokenHash, AuthType, OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

fn jws_alg(alg: Alg) -> CoreJwsSigningAlgorithm {
    match alg {
        Alg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Alg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        Alg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

async fn discover(srv: &Server) -> CoreProviderMetadata {
    RelyingParty::discover(&srv.http, &srv.issuer).await
}

async fn relying_party(srv: &Server, c: &TestClient) -> RelyingParty {
    let rp = RelyingParty::new(
        &srv.http,
        &srv.issuer,
        &c.id,
        c.secret.as_deref(),
        &c.redirect_uri,
    )
    .await;
    match c.auth {
        ClientAuth::Post => rp.with_auth_type(AuthType::RequestBody),
        _ => rp,
    }
}

/// A complete code + PKCE (S256) flow driven by openidconnect: the ID token's signature,
/// `iss`, `aud`, expiry, nonce and `at_hash` are checked by openidconnect, then userinfo is
/// fetched through it.
async fn oidc_code_flow(srv: &Server, c: &TestClient, user: &str) -> Tokens {
    let rp = relying_party(srv, c).await;
    let sign_in = rp.sign_in(&["email", "profile", "groups"]);

    let r = srv.get(sign_in.url.as_str(), &[(USER, user)]).await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let q = r.redirect_params(&c.redirect_uri);
    assert_eq!(
        q.get("state"),
        Some(sign_in.state.secret()),
        "state is echoed"
    );
    assert_eq!(
        q.get("iss"),
        Some(&srv.issuer),
        "RFC 9207 iss in the response"
    );
    let code = q.get("code").expect("code");
    let token = rp.redeem(code, sign_in.verifier).await;

    let id_token = token.id_token().expect("an ID token");
    let nonce = sign_in.nonce;
    let verifier = rp
        .client
        .id_token_verifier()
        .set_allowed_algs(vec![jws_alg(c.alg)]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("openidconnect verifies the ID token");
    assert_eq!(id_token.signing_alg().unwrap(), &jws_alg(c.alg));
    assert_eq!(claims.subject().as_str(), user);
    assert_eq!(claims.issuer().as_str(), srv.issuer);
    assert_eq!(
        claims
            .audiences()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [c.id.as_str()]
    );
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected, "at_hash matches the access token");
    assert_eq!(
        claims.email().map(|e| e.as_str().to_owned()),
        Some(format!("{user}@example.com"))
    );
    assert!(claims.auth_time().is_some());

    // The raw ID token: claims the claim source tried to smuggle in are ours, not its.
    let (header, raw) = jwt_parts(&id_token.to_string());
    assert_eq!(header["alg"], c.alg.as_str());
    assert_eq!(raw["nonce"], json!(nonce.secret()));
    assert_eq!(raw["groups"], json!(["staff", format!("{user}-team")]));
    assert_eq!(raw["amr"], json!(["pwd"]));
    assert_eq!(raw["azp"], json!(c.id));
    assert!(raw["exp"].as_i64().unwrap() > unix_now());

    let info = rp.userinfo(&token, claims.subject()).await;
    assert_eq!(info.subject().as_str(), user);
    assert_eq!(
        info.email().map(|e| e.as_str().to_owned()),
        Some(format!("{user}@example.com"))
    );
    assert_eq!(info.email_verified(), Some(true));

    let at = token.access_token().secret().clone();
    let raw_info = srv.userinfo(&at).await;
    assert_eq!(raw_info.status, 200);
    let v = raw_info.json();
    assert_eq!(v["sub"], user);
    assert_eq!(v["preferred_username"], user);
    for reserved in ["iss", "aud", "exp", "nonce"] {
        assert!(v.get(reserved).is_none(), "userinfo leaks {reserved}: {v}");
    }
    let (at_header, at_claims) = jwt_parts(&at);
    assert_eq!(at_header["typ"], "at+jwt");
    assert_eq!(at_claims["client_id"], c.id.as_str());

    Tokens {
        access: at,
        refresh: token.refresh_token().map(|r| r.secret().clone()),
        id: Some(id_token.to_string()),
        body: Value::Null,
    }
}

async fn main_flow(backend: Backend) {
    let h = Harness::new(backend).await;
    let basic = h.confidential().await;
    let t = oidc_code_flow(&h, &basic, "alice").await;
    assert!(t.refresh.is_some());
    let public = h
        .client_with(ClientSpec {
            public: true,
            alg: Alg::EdDSA,
            ..ClientSpec::default()
        })
        .await;
    let t = oidc_code_flow(&h, &public, "bob").await;
    // The refresh token of a public client works without a secret.
    let r = h.refresh(&public, t.refresh_token()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    h.finish().await;
}

#[tokio::test]
async fn main_flow_sqlite() {
    main_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn main_flow_postgres() {
    main_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn discovery_and_jwks() {
    let h = Harness::new(Backend::Sqlite).await;
    let meta = discover(&h).await;
    assert_eq!(meta.issuer().as_str(), h.issuer);
    assert_eq!(meta.token_endpoint().unwrap().as_str(), h.url("/token"));
    let mut algs: Vec<_> = meta
        .id_token_signing_alg_values_supported()
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    algs.sort();
    assert_eq!(algs.len(), 3, "{algs:?}");
    // openidconnect fetched and parsed the JWKS: one key per algorithm.
    let keys = meta.jwks().keys();
    assert_eq!(keys.len(), 3);
    assert_eq!(h.jwks_kids().await.len(), 3);

    let raw = h
        .get(&h.url("/.well-known/openid-configuration"), &[])
        .await
        .json();
    assert_eq!(raw["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(raw["response_types_supported"], json!(["code"]));
    assert_eq!(raw["authorization_response_iss_parameter_supported"], true);
    assert!(
        raw.get("registration_endpoint").is_none(),
        "registration is off"
    );
    let alias = h
        .get(&h.url("/.well-known/oauth-authorization-server"), &[])
        .await
        .json();
    assert_eq!(alias, raw);
    let jwks = h.get(&h.url("/.well-known/jwks.json"), &[]).await;
    for k in jwks.json()["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "private member {private} in {k}");
        }
    }
    h.finish().await;
}

/// A first start serves before its RSA key exists (it is made in the background), but never
/// advertises an algorithm its JWKS has no key for, and an RS256 client's token request
/// waits for the key instead of failing.
#[tokio::test]
async fn a_first_start_serves_before_its_rsa_key_exists() {
    let db = latchkey_testkit::TestDb::new(Backend::Sqlite).await;
    let h = Harness {
        srv: Server::start_with(db.store().await, 0, |_| {}, false).await,
        db,
    };
    let kty = |alg: &str| match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        _ => "OKP",
    };
    let mut saw_without_rsa = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let doc = h
            .get(&h.url("/.well-known/openid-configuration"), &[])
            .await
            .json();
        let jwks = h.get(&h.url("/.well-known/jwks.json"), &[]).await.json();
        let advertised: Vec<String> =
            serde_json::from_value(doc["id_token_signing_alg_values_supported"].clone()).unwrap();
        let key_types: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kty"].as_str().unwrap())
            .collect();
        for alg in &advertised {
            assert!(
                key_types.contains(&kty(alg)),
                "{alg} advertised, JWKS has {key_types:?}"
            );
        }
        if advertised.iter().any(|a| a == "RS256") {
            break;
        }
        saw_without_rsa = true;
        assert!(
            std::time::Instant::now() < deadline,
            "no RSA key after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    eprintln!("discovery was served without RS256 first: {saw_without_rsa}");

    // On another fresh database, an RS256 client asks at once: the answer waits for the key.
    let db2 = latchkey_testkit::TestDb::new(Backend::Sqlite).await;
    let h2 = Harness {
        srv: Server::start_with(db2.store().await, 0, |_| {}, false).await,
        db: db2,
    };
    let c = h2.confidential().await;
    assert_eq!(c.alg, Alg::RS256);
    let r = h2.token(&c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["access_token"].as_str().unwrap().to_owned();
    let (header, _) = jwt_parts(&token);
    assert_eq!(header["alg"], "RS256");
    assert!(
        h2.jwks_kids()
            .await
            .contains(&header["kid"].as_str().unwrap().to_owned())
    );
    h2.finish().await;
    h.finish().await;
}

#[tokio::test]
async fn confidential_client_secret_basic_rs256() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    oidc_code_flow(&h, &c, "alice").await;
    h.finish().await;
}

#[tokio::test]
async fn confidential_client_secret_post_es256() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h
        .client_with(ClientSpec {
            alg: Alg::ES256,
            auth: ClientAuth::Post,
            ..ClientSpec::default()
        })
        .await;
    oidc_code_flow(&h, &c, "alice").await;
    h.finish().await;
}

#[tokio::test]
async fn public_client_pkce_eddsa() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h
        .client_with(ClientSpec {
            public: true,
            alg: Alg::EdDSA,
            ..ClientSpec::default()
        })
        .await;
    assert!(c.secret.is_none());
    oidc_code_flow(&h, &c, "carol").await;
    h.finish().await;
}

#[tokio::test]
async fn interaction_then_resume() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[]);
    let params = refs(&params);
    // No session: the role's interaction page, carrying a resume URL back to /authorize.
    let r = h.authorize(&params, None).await;
    let q = r.redirect_params(&h.url("/login"));
    r.assert_nothing_issued("interaction");
    let resume = q.get("resume").expect("resume URL").clone();
    assert!(resume.starts_with(&h.url("/authorize?")), "{resume}");
    assert_eq!(h.authn.last().resume_url, resume);
    assert!(h.authn.last().peer.is_some_and(|p| p.ip().is_loopback()));
    // Signed in: the resume URL completes the request, state and all.
    let r = h.get(&resume, &[(USER, "alice")]).await;
    let q = r.redirect_params(REDIRECT);
    assert_eq!(q["state"], "st-123");
    let t = h.redeem(&c, &q["code"], Some(&pkce.verifier)).await;
    assert_eq!(t.status, 200, "{}", t.body);
    h.finish().await;
}

#[tokio::test]
async fn form_post_response_mode() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[("response_mode", "form_post")]);
    let params = refs(&params);
    let r = h.authorize(&params, Some("alice")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.is_html());
    assert!(r.header("location").is_none());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let csp = r.header("content-security-policy").expect("CSP");
    assert!(csp.contains("form-action https://rp.example"), "{csp}");
    assert!(
        r.body
            .contains("<form method=\"post\" action=\"https://rp.example/cb\">"),
        "{}",
        r.body
    );
    assert!(r.body.contains("document.forms[0].submit()"));
    assert_eq!(hidden_input(&r.body, "state").as_deref(), Some("st-123"));
    assert_eq!(
        hidden_input(&r.body, "iss").as_deref(),
        Some(h.issuer.as_str())
    );
    let code = hidden_input(&r.body, "code").expect("code in the form");
    let t = h.redeem(&c, &code, Some(&pkce.verifier)).await;
    assert_eq!(t.status, 200, "{}", t.body);

    // Whatever the client put in `state` comes back as a value, never as markup.
    let hostile = "\"><script>alert('x')</script>&amp;";
    let odd = h.auth_params(
        &c,
        &pkce,
        &[("response_mode", "form_post"), ("state", hostile)],
    );
    let r = h.authorize(&refs(&odd), Some("alice")).await;
    assert_eq!(hidden_input(&r.body, "state").as_deref(), Some(hostile));
    assert_eq!(r.body.matches("<script").count(), 1, "{}", r.body);

    // Errors use the same mode.
    let r = h.authorize(&params, Some("denied")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        hidden_input(&r.body, "error").as_deref(),
        Some("access_denied")
    );
    r.assert_nothing_issued("form_post error");
    h.finish().await;
}

#[tokio::test]
async fn refresh_rotation_and_reuse_detection() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let other = h.confidential().await;
    let t1 = h.login(&c, "alice").await;
    let r1 = t1.refresh_token().to_owned();

    // Asking for more than was granted fails and costs nothing.
    let r = h
        .token(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r1),
                ("scope", "openid admin"),
            ],
        )
        .await;
    r.assert_oauth_error(400, "invalid_scope", "wider scope");
    // Another client cannot use it, and its attempt does not burn the family.
    h.refresh(&other, &r1)
        .await
        .assert_oauth_error(400, "invalid_grant", "other client");

    // Rotation, narrowing the scope.
    let r = h
        .token(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &r1),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = Tokens::from(r.json());
    assert_eq!(t2.body["scope"], "openid email");
    let r2 = t2.refresh_token().to_owned();
    assert_ne!(r1, r2);
    assert_ne!(t1.access, t2.access);
    let (_, id2) = jwt_parts(t2.id_token());
    assert!(id2.get("nonce").is_none(), "no nonce on refresh");
    assert!(id2.get("groups").is_none(), "narrowed scope: {id2}");
    let info = h.userinfo(&t2.access).await;
    assert_eq!(info.status, 200);
    assert!(info.json().get("groups").is_none());
    assert!(h.active(&c, &r2).await);
    assert!(!h.active(&c, &r1).await, "a used refresh token is inactive");

    // The new one works (the kept scope is the original one)...
    let r = h.refresh(&c, &r2).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t3 = Tokens::from(r.json());
    assert_eq!(
        t3.body["scope"],
        "openid email profile groups offline_access"
    );
    let r3 = t3.refresh_token().to_owned();

    // ...and reusing an old one kills the whole family.
    h.refresh(&c, &r1)
        .await
        .assert_oauth_error(400, "invalid_grant", "reuse");
    h.refresh(&c, &r3)
        .await
        .assert_oauth_error(400, "invalid_grant", "newest after reuse");
    for at in [&t1.access, &t2.access, &t3.access] {
        h.userinfo(at)
            .await
            .assert_invalid_token("access token of a revoked family");
        assert!(!h.active(&c, at).await);
    }
    assert!(!h.active(&c, &r3).await);
    h.finish().await;
}

/// A client with a refresh reuse leeway gets the same successor when it presents a refresh
/// token again soon after (concurrent refreshes); once the successor is used, presenting the
/// old token again is reuse, and the family dies.
#[tokio::test]
async fn refresh_reuse_leeway_returns_the_same_successor() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h
        .client_with(ClientSpec {
            metadata: json!({"refresh_reuse_leeway": 10}),
            ..ClientSpec::default()
        })
        .await;
    let t1 = h.login(&c, "alice").await;
    let r1 = t1.refresh_token().to_owned();
    let first = h.refresh(&c, &r1).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let r2 = Tokens::from(first.json()).refresh_token().to_owned();
    let again = h.refresh(&c, &r1).await;
    assert_eq!(again.status, 200, "within the leeway: {}", again.body);
    let t2b = Tokens::from(again.json());
    assert_eq!(t2b.refresh_token(), r2, "the same successor");
    assert_eq!(h.userinfo(&t2b.access).await.status, 200);
    assert!(h.active(&c, &r2).await);

    // The successor used: the old token again is reuse.
    let r3 = Tokens::from(h.refresh(&c, &r2).await.json())
        .refresh_token()
        .to_owned();
    h.refresh(&c, &r1).await.assert_oauth_error(
        400,
        "invalid_grant",
        "old token after its successor was used",
    );
    h.refresh(&c, &r3)
        .await
        .assert_oauth_error(400, "invalid_grant", "family revoked");
    h.finish().await;
}

/// A failure of ours while minting (the directory not answering) spends neither the code
/// nor the refresh token: the client's retry succeeds instead of looking like a replay that
/// revokes the grant. A person who is gone gets `invalid_grant`, not a server error.
#[tokio::test]
async fn a_failed_mint_spends_nothing_and_the_retry_succeeds() {
    use std::sync::atomic::Ordering;
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let (code, pkce) = h.code(&c, "flaky", &[]).await;
    common::FLAKY_FAILURES.store(1, Ordering::SeqCst);
    h.redeem(&c, &code, Some(&pkce.verifier))
        .await
        .assert_oauth_error(500, "server_error", "the directory failed");
    let first = h.redeem(&c, &code, Some(&pkce.verifier)).await;
    assert_eq!(
        first.status, 200,
        "the retry with the same code: {}",
        first.body
    );
    let r1 = Tokens::from(first.json()).refresh_token().to_owned();

    common::FLAKY_FAILURES.store(1, Ordering::SeqCst);
    h.refresh(&c, &r1).await.assert_oauth_error(
        500,
        "server_error",
        "the directory failed at refresh",
    );
    let again = h.refresh(&c, &r1).await;
    assert_eq!(
        again.status, 200,
        "the retry with the same token: {}",
        again.body
    );
    let t2 = Tokens::from(again.json());
    assert_eq!(h.userinfo(&t2.access).await.status, 200);
    // Replay detection still holds once the token was really used.
    h.refresh(&c, &r1)
        .await
        .assert_oauth_error(400, "invalid_grant", "reuse after the retry");

    let (code, pkce) = h.code(&c, "gone", &[]).await;
    h.redeem(&c, &code, Some(&pkce.verifier))
        .await
        .assert_oauth_error(400, "invalid_grant", "a deleted account");
    h.finish().await;
}

#[tokio::test]
async fn code_reuse_revokes_what_it_issued() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let (code, pkce) = h.code(&c, "alice", &[]).await;
    let first = h.redeem(&c, &code, Some(&pkce.verifier)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let t = Tokens::from(first.json());
    assert_eq!(h.userinfo(&t.access).await.status, 200);
    assert!(h.active(&c, &t.access).await);

    h.redeem(&c, &code, Some(&pkce.verifier))
        .await
        .assert_oauth_error(400, "invalid_grant", "second redemption");

    h.userinfo(&t.access)
        .await
        .assert_invalid_token("access token after code reuse");
    assert!(!h.active(&c, &t.access).await);
    h.refresh(&c, t.refresh_token()).await.assert_oauth_error(
        400,
        "invalid_grant",
        "refresh after code reuse",
    );
    assert!(!h.active(&c, t.refresh_token()).await);
    h.finish().await;
}

#[tokio::test]
async fn client_credentials() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let r = h
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "openid email offline_access"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "email", "no user, so no openid scopes");
    assert!(v.get("id_token").is_none() && v.get("refresh_token").is_none());
    let at = v["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(at);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], c.id.as_str());

    let i = h.introspect(&c, at).await.json();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], c.id.as_str());
    assert_eq!(i["iss"], h.issuer.as_str());
    // Not a user's token: userinfo refuses it.
    let u = h.userinfo(at).await;
    assert_eq!(u.status, 403);
    assert_eq!(u.json()["error"], "insufficient_scope");

    let public = h.public_client().await;
    h.token(&public, &[("grant_type", "client_credentials")])
        .await
        .assert_oauth_error(400, "unauthorized_client", "public client");
    h.finish().await;
}

#[tokio::test]
async fn introspection_and_revocation() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let rs = h.confidential().await; // a resource server
    let public = h.public_client().await;
    let t = h.login(&c, "alice").await;

    // Introspection needs a confidential client.
    h.introspect(&public, &t.access).await.assert_oauth_error(
        401,
        "invalid_client",
        "public introspection",
    );
    let anon = h
        .post_form("/introspect", &[("token", &t.access)], &[])
        .await;
    anon.assert_oauth_error(401, "invalid_client", "anonymous introspection");

    let i = h.introspect(&rs, &t.access).await.json();
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], "alice");
    assert_eq!(i["client_id"], c.id.as_str());
    assert_eq!(i["scope"], "openid email profile groups offline_access");
    let i = h.introspect(&rs, t.refresh_token()).await.json();
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    for junk in ["", "nonsense", "a.b.c"] {
        let r = h.introspect(&rs, junk).await;
        if junk.is_empty() {
            r.assert_oauth_error(400, "invalid_request", "no token");
        } else {
            assert_eq!(r.json(), json!({"active": false}), "{junk}");
        }
    }

    // RFC 7009: unknown tokens get 200.
    for junk in ["nonsense", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let r = h.revoke(&c, junk).await;
        assert_eq!(r.status, 200, "{junk}: {}", r.body);
    }
    // Another client's revocation of our token is a no-op.
    assert_eq!(h.revoke(&rs, &t.access).await.status, 200);
    assert!(h.active(&rs, &t.access).await);

    // Revoking the access token: inactive, rejected; the grant itself lives on.
    assert_eq!(h.revoke(&c, &t.access).await.status, 200);
    assert!(!h.active(&rs, &t.access).await);
    h.userinfo(&t.access)
        .await
        .assert_invalid_token("revoked access token");
    let r = h.refresh(&c, t.refresh_token()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = Tokens::from(r.json());

    // Revoking the refresh token kills the grant: its access tokens too.
    let t3 = h.login(&c, "alice").await; // another grant, unaffected
    assert_eq!(h.revoke(&c, t2.refresh_token()).await.status, 200);
    assert!(!h.active(&rs, t2.refresh_token()).await);
    assert!(!h.active(&rs, &t2.access).await);
    h.userinfo(&t2.access)
        .await
        .assert_invalid_token("grant revoked");
    h.refresh(&c, t2.refresh_token()).await.assert_oauth_error(
        400,
        "invalid_grant",
        "revoked refresh token",
    );
    assert!(h.active(&rs, &t3.access).await);
    assert_eq!(h.userinfo(&t3.access).await.status, 200);

    // A public client may revoke its own tokens.
    let pt = h.login(&public, "bob").await;
    assert_eq!(h.revoke(&public, pt.refresh_token()).await.status, 200);
    assert!(!h.active(&rs, &pt.access).await);
    h.finish().await;
}

#[tokio::test]
async fn prompt_none() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[("prompt", "none")]);
    let params = refs(&params);
    let r = h.authorize(&params, None).await;
    r.assert_redirect_error(&h.issuer, REDIRECT, "login_required", "no session");
    assert_eq!(r.redirect_params(REDIRECT)["state"], "st-123");
    assert!(h.authn.last().prompt_none);
    // With a session, prompt=none just works.
    let r = h.authorize(&params, Some("alice")).await;
    assert!(r.redirect_params(REDIRECT).contains_key("code"));
    h.finish().await;
}

#[tokio::test]
async fn prompt_login_forces_a_fresh_sign_in() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[("prompt", "login")]);
    let params = refs(&params);
    let old = (unix_now() - 1000).to_string();
    let r = h
        .authorize_with(&params, &[(USER, "alice"), (AUTH_TIME, &old)])
        .await;
    let q = r.redirect_params(&h.url("/login"));
    r.assert_nothing_issued("prompt=login with an old session");
    let seen = h.authn.last();
    let fresh_after = seen
        .fresh_after
        .expect("fresh_after is set for prompt=login");
    assert!(fresh_after >= unix_now() - 5);
    let resume = q["resume"].clone();

    // The sign-in happened after the request: the resumed request issues a code, even though
    // time has passed since.
    let login_time = fresh_after.to_string();
    let r = h
        .get(&resume, &[(USER, "alice"), (AUTH_TIME, &login_time)])
        .await;
    let q = r.redirect_params(REDIRECT);
    let t = h.redeem(&c, &q["code"], Some(&pkce.verifier)).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let (_, id) = jwt_parts(Tokens::from(t.json()).id_token());
    assert_eq!(id["auth_time"], fresh_after);

    // The resume URL's request time is MAC'd: moving it back does not let an older
    // sign-in through.
    let mut url = url::Url::parse(&resume).unwrap();
    let forged: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "lk_after" {
                (k, (fresh_after - 5000).to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(forged);
    let older = (fresh_after - 4000).to_string();
    let r = h
        .get(url.as_str(), &[(USER, "alice"), (AUTH_TIME, &older)])
        .await;
    r.redirect_params(&h.url("/login"));
    r.assert_nothing_issued("forged lk_after");

    // A role that ignores fresh_after does not get a stale sign-in past the engine.
    let r = h
        .authorize_with(
            &params,
            &[(USER, "alice"), (AUTH_TIME, &old), (IGNORE_FRESH, "1")],
        )
        .await;
    r.assert_redirect_error(&h.issuer, REDIRECT, "login_required", "sloppy role");
    h.finish().await;
}

#[tokio::test]
async fn max_age() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[("max_age", "60")]);
    let params = refs(&params);
    let stale = (unix_now() - 3600).to_string();
    let r = h
        .authorize_with(&params, &[(USER, "alice"), (AUTH_TIME, &stale)])
        .await;
    r.redirect_params(&h.url("/login"));
    r.assert_nothing_issued("max_age with a stale session");
    let fa = h.authn.last().fresh_after.expect("fresh_after for max_age");
    assert!((unix_now() - 65..=unix_now() - 55).contains(&fa), "{fa}");

    let recent = unix_now() - 10;
    let r = h
        .authorize_with(
            &params,
            &[(USER, "alice"), (AUTH_TIME, &recent.to_string())],
        )
        .await;
    let q = r.redirect_params(REDIRECT);
    let t = h.redeem(&c, &q["code"], Some(&pkce.verifier)).await;
    let (_, id) = jwt_parts(Tokens::from(t.json()).id_token());
    assert_eq!(id["auth_time"], recent);

    // prompt=none with a session too old for max_age.
    let params = h.auth_params(&c, &pkce, &[("max_age", "60"), ("prompt", "none")]);
    let params = refs(&params);
    let r = h
        .authorize_with(&params, &[(USER, "alice"), (AUTH_TIME, &stale)])
        .await;
    r.assert_redirect_error(
        &h.issuer,
        REDIRECT,
        "login_required",
        "prompt=none + max_age",
    );
    h.finish().await;
}

/// max_age=0 ("sign in again, now"): the user signs in after the request arrived, and the
/// browser comes back to the resume URL a moment later. That sign-in must satisfy the
/// request; it must not send the user round the interaction loop again.
#[tokio::test]
async fn max_age_zero_is_satisfied_by_the_sign_in_it_caused() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[("max_age", "0")]);
    let params = refs(&params);
    let stale = (unix_now() - 3600).to_string();
    let r = h
        .authorize_with(&params, &[(USER, "alice"), (AUTH_TIME, &stale)])
        .await;
    let resume = r.redirect_params(&h.url("/login"))["resume"].clone();
    let requested_at: i64 = url::Url::parse(&resume)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "lk_after")
        .expect("lk_after")
        .1
        .parse()
        .unwrap();
    // The user signs in at the request's second; the browser returns in a later second.
    while unix_now() <= requested_at + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = h
        .get(
            &resume,
            &[(USER, "alice"), (AUTH_TIME, &requested_at.to_string())],
        )
        .await;
    let q = r.redirect_params(REDIRECT);
    assert!(q.contains_key("code"), "{q:?}");
    h.finish().await;
}

#[tokio::test]
async fn prompt_none_with_id_token_hint() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let bob = h.login(&c, "bob").await;
    let alice = h.login(&c, "alice").await;
    let pkce = Pkce::new();
    let with_hint =
        |hint: &str| h.auth_params(&c, &pkce, &[("prompt", "none"), ("id_token_hint", hint)]);
    let r = h
        .authorize(&refs(&with_hint(bob.id_token())), Some("alice"))
        .await;
    r.assert_redirect_error(
        &h.issuer,
        REDIRECT,
        "login_required",
        "hint of another user",
    );
    // Bob's hint, re-labelled as Alice's: the signature no longer holds.
    let tampered = {
        let mut parts: Vec<String> = bob.id_token().split('.').map(String::from).collect();
        let (_, mut claims) = jwt_parts(bob.id_token());
        claims["sub"] = json!("alice");
        parts[1] = b64(claims.to_string().as_bytes());
        parts.join(".")
    };
    let r = h
        .authorize(&refs(&with_hint(&tampered)), Some("alice"))
        .await;
    r.assert_redirect_error(&h.issuer, REDIRECT, "login_required", "tampered hint");
    let r = h
        .authorize(&refs(&with_hint(alice.id_token())), Some("alice"))
        .await;
    assert!(r.redirect_params(REDIRECT).contains_key("code"));
    h.finish().await;
}

#[tokio::test]
async fn denied_user() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let pkce = Pkce::new();
    let params = h.auth_params(&c, &pkce, &[]);
    let params = refs(&params);
    let r = h.authorize(&params, Some("denied")).await;
    r.assert_redirect_error(&h.issuer, REDIRECT, "access_denied", "denied");
    assert_eq!(r.redirect_params(REDIRECT)["state"], "st-123");
    // An authenticator failure is a server_error at the client, not a 500 page.
    let r = h.authorize(&params, Some("broken")).await;
    r.assert_redirect_error(&h.issuer, REDIRECT, "server_error", "broken role");
    // A role that cannot tell who this is right now: a 503 page for the person, no redirect.
    let r = h.authorize(&params, Some("unavailable")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("location").is_none());
    assert!(
        r.body.contains("The identity source is not answering."),
        "{}",
        r.body
    );
    h.finish().await;
}

#[tokio::test]
async fn end_session() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let other = h
        .client_with(ClientSpec {
            post_logout: vec!["https://other.example/bye".into()],
            ..ClientSpec::default()
        })
        .await;
    let t = h.login(&c, "alice").await;
    let hint = t.id_token();
    let end = |pairs: &[(&str, &str)]| format!("{}?{}", h.url("/end-session"), form(pairs));

    let r = h
        .get(
            &end(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", "bye-1"),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("https://rp.example/bye?state=bye-1")
    );
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("test_session=;")),
        "the role's end_session headers are sent"
    );

    // Same by POST, with client_id agreeing with the hint.
    let r = h
        .post_form(
            "/end-session",
            &[
                ("id_token_hint", hint),
                ("client_id", &c.id),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
            &[],
        )
        .await;
    assert_eq!(r.header("location"), Some(POST_LOGOUT));

    // No ID token: the person confirms first (no cross-site sign-out), on a page whose form
    // comes back same-origin.
    let r = h
        .get(
            &end(&[
                ("client_id", &c.id),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ]),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.is_html() && r.body.contains("Sign out?") && r.body.contains("name=\"confirm\""));
    assert!(
        r.header("set-cookie").is_none(),
        "nothing happens before confirming"
    );
    assert!(r.header("location").is_none());
    let confirm = [
        ("client_id", c.id.as_str()),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("confirm", "yes"),
    ];
    let r = h
        .post_form(
            "/end-session",
            &confirm,
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403, "a cross-site confirmation is refused");
    assert!(r.header("set-cookie").is_none());
    let r = h
        .post_form(
            "/end-session",
            &confirm,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = h.post_form("/end-session", &confirm, &[]).await;
    assert_eq!(r.status, 403, "a post that does not say where it came from");
    assert!(r.is_html() && r.body.contains("did not come from this site"));
    let origin = h.issuer.clone();
    let r = h
        .post_form("/end-session", &confirm, &[("origin", origin.as_str())])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some(POST_LOGOUT));
    assert!(r.header("set-cookie").is_some());
    // Confirmed with nowhere to go back to: a page.
    let r = h
        .post_form(
            "/end-session",
            &[("confirm", "yes")],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.is_html() && r.body.contains("Signed out"));

    // Unregistered URIs, URIs of another client, forged hints: an error page, never a redirect.
    let tampered = {
        let mut parts: Vec<String> = hint.split('.').map(String::from).collect();
        let (_, mut claims) = jwt_parts(hint);
        claims["aud"] = json!(other.id);
        parts[1] = b64(claims.to_string().as_bytes());
        parts.join(".")
    };
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "unregistered uri",
            vec![
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://evil.example/bye"),
            ],
        ),
        (
            "registered uri plus query",
            vec![
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://rp.example/bye?x=1"),
            ],
        ),
        (
            "another client's uri",
            vec![
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://other.example/bye"),
            ],
        ),
        (
            "client_id disagreeing with the hint",
            vec![
                ("id_token_hint", hint),
                ("client_id", &other.id),
                ("post_logout_redirect_uri", "https://other.example/bye"),
            ],
        ),
        (
            "tampered hint",
            vec![
                ("id_token_hint", &tampered),
                ("post_logout_redirect_uri", "https://other.example/bye"),
            ],
        ),
        (
            "garbage hint",
            vec![
                ("id_token_hint", "not.a.jwt"),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        ),
        (
            "no hint, no client",
            vec![("post_logout_redirect_uri", POST_LOGOUT)],
        ),
    ];
    for (name, pairs) in cases {
        let r = h.get(&end(&pairs), &[]).await;
        r.assert_error_page(name);
    }
    h.finish().await;
}

fn registration_body() -> Value {
    json!({
        "client_name": "Dynamic app",
        "redirect_uris": ["https://dyn.example/cb"],
        "id_token_signed_response_alg": "ES256",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })
}

#[tokio::test]
async fn registration_disabled_by_default() {
    let h = Harness::new(Backend::Sqlite).await;
    let r = h
        .post_raw(
            "/register",
            Some("application/json"),
            registration_body().to_string(),
            &[],
        )
        .await;
    r.assert_oauth_error(403, "access_denied", "registration disabled");
    assert!(r.json().get("client_id").is_none());
    h.finish().await;
}

#[tokio::test]
async fn registration_enabled() {
    let h = Harness::with(Backend::Sqlite, |s| s.dynamic_registration = true).await;
    let doc = h
        .get(&h.url("/.well-known/openid-configuration"), &[])
        .await
        .json();
    assert_eq!(doc["registration_endpoint"], h.url("/register"));

    let r = h
        .post_raw(
            "/register",
            Some("application/json"),
            registration_body().to_string(),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = r.json();
    let client = TestClient {
        id: v["client_id"].as_str().expect("client_id").to_owned(),
        secret: Some(
            v["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
        ),
        redirect_uri: "https://dyn.example/cb".into(),
        alg: Alg::ES256,
        auth: ClientAuth::Basic,
    };
    assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(v["id_token_signed_response_alg"], "ES256");
    // The registered client completes a flow, through openidconnect.
    oidc_code_flow(&h, &client, "alice").await;
    // ... but may use only the grants it registered.
    assert_eq!(
        v["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    h.token(&client, &[("grant_type", "client_credentials")])
        .await
        .assert_oauth_error(400, "unauthorized_client", "unregistered grant");

    // A public client gets no secret, and needs PKCE.
    let mut body = registration_body();
    body["token_endpoint_auth_method"] = json!("none");
    let r = h
        .post_raw("/register", Some("application/json"), body.to_string(), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json().get("client_secret").is_none());

    h.finish().await;
}

/// Ten bad registrations, each answered precisely; the eleventh attempt from the same
/// address within the minute is rate-limited.
#[tokio::test]
async fn registration_rejects_bad_metadata_and_is_rate_limited() {
    let h = Harness::with(Backend::Sqlite, |s| s.dynamic_registration = true).await;
    let json_cases: Vec<(Value, &str)> = vec![
        (
            json!({"redirect_uris": ["https://dyn.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["/relative"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": "https://dyn.example/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://dyn.example/cb"], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://dyn.example/cb"], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://dyn.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
    ];
    for (body, error) in json_cases {
        let r = h
            .post_raw("/register", Some("application/json"), body.to_string(), &[])
            .await;
        r.assert_oauth_error(400, error, &body.to_string());
    }
    let r = h
        .post_raw(
            "/register",
            Some(FORM),
            "redirect_uris=https://dyn.example/cb",
            &[],
        )
        .await;
    r.assert_oauth_error(400, "invalid_request", "form body");
    let r = h
        .post_raw("/register", Some("application/json"), "{not json", &[])
        .await;
    r.assert_oauth_error(400, "invalid_client_metadata", "bad JSON");

    let r = h
        .post_raw(
            "/register",
            Some("application/json"),
            registration_body().to_string(),
            &[],
        )
        .await;
    r.assert_oauth_error(429, "invalid_request", "registration flood");
    assert!(r.header("retry-after").is_some());
    h.finish().await;
}

/// Two redemptions of one code racing: exactly one gets tokens, and since the other one is a
/// replay, those tokens must end up revoked too, whichever request the database saw first.
async fn concurrent_code_replay(backend: Backend) {
    let h = Harness::new(backend).await;
    let c = h.confidential().await;
    let trials = 20;
    let mut alive = 0;
    for _ in 0..trials {
        let (code, pkce) = h.code(&c, "alice", &[]).await;
        let (a, b) = tokio::join!(
            h.redeem(&c, &code, Some(&pkce.verifier)),
            h.redeem(&c, &code, Some(&pkce.verifier))
        );
        let winners: Vec<&Resp> = [&a, &b].into_iter().filter(|r| r.status == 200).collect();
        // At most one wins; when the replay is recorded before the first redemption stores
        // its grant, both fail, which issues nothing.
        assert!(winners.len() <= 1, "{} / {}", a.body, b.body);
        for r in [&a, &b].into_iter().filter(|r| r.status != 200) {
            r.assert_oauth_error(400, "invalid_grant", "the replay");
        }
        let Some(winner) = winners.first() else {
            continue;
        };
        let t = Tokens::from(winner.json());
        if h.userinfo(&t.access).await.status == 200 || h.active(&c, &t.access).await {
            alive += 1;
        }
    }
    assert_eq!(
        alive, 0,
        "{alive} of {trials} raced replays left the first redemption's tokens valid"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_code_replay_sqlite() {
    concurrent_code_replay(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_code_replay_postgres() {
    concurrent_code_replay(Backend::Postgres).await;
}

/// Deleting a client revokes what it holds: user grants and its own client_credentials
/// tokens alike.
#[tokio::test]
async fn deleted_client_tokens_die() {
    let h = Harness::new(Backend::Sqlite).await;
    let rs = h.confidential().await;
    let c = h.confidential().await;
    let user = h.login(&c, "alice").await;
    let r = h.token(&c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let machine = Tokens::from(r.json());
    assert!(h.active(&rs, &machine.access).await);

    let deleted = h
        .provider
        .delete_client(&latchkey_store::ClientId::from(c.id.as_str()))
        .await
        .unwrap();
    assert!(deleted);

    h.userinfo(&user.access)
        .await
        .assert_invalid_token("user token of a deleted client");
    assert!(!h.active(&rs, &user.access).await);
    assert!(!h.active(&rs, user.refresh_token()).await);
    h.refresh(&c, user.refresh_token())
        .await
        .assert_oauth_error(401, "invalid_client", "deleted client refreshing");
    assert!(
        !h.active(&rs, &machine.access).await,
        "a client_credentials token outlives its deleted client"
    );

    // Deleted by another process (the CLI, another replica): honoured once the cached entry
    // has expired.
    let d = h.confidential().await;
    let r = h.token(&d, &[("grant_type", "client_credentials")]).await;
    let machine = Tokens::from(r.json());
    assert!(h.active(&rs, &machine.access).await);
    let deleted = h
        .provider
        .store
        .delete_client(
            h.provider.issuer_id(),
            &latchkey_store::ClientId::from(d.id.as_str()),
            unix_now(),
        )
        .await
        .unwrap();
    assert!(deleted);
    tokio::time::sleep(latchkey_oidc::client_cache::TTL + std::time::Duration::from_millis(200))
        .await;
    assert!(!h.active(&rs, &machine.access).await);
    h.token(&d, &[("grant_type", "client_credentials")])
        .await
        .assert_oauth_error(401, "invalid_client", "client deleted elsewhere");
    h.finish().await;
}

/// Browser apps may call the token-side endpoints cross-origin; never /authorize.
#[tokio::test]
async fn cors() {
    let h = Harness::new(Backend::Sqlite).await;
    for path in ["/token", "/userinfo", "/revoke", "/.well-known/jwks.json"] {
        let r = h
            .send(
                h.http
                    .request(reqwest::Method::OPTIONS, h.url(path))
                    .header("origin", "https://spa.example")
                    .header("access-control-request-method", "POST")
                    .header("access-control-request-headers", "authorization"),
            )
            .await;
        assert!(r.status < 300, "{path}: {}", r.status);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
        assert!(r.header("access-control-allow-credentials").is_none());
    }
    let r = h
        .get(&h.url("/authorize"), &[("origin", "https://spa.example")])
        .await;
    assert!(r.header("access-control-allow-origin").is_none());
    h.finish().await;
}

/// RFC 8707: a role that grants no resources (the default) refuses them with invalid_target,
/// and the refused request does not spend the code.
#[tokio::test]
async fn resources_are_refused_by_default() {
    let h = Harness::new(Backend::Sqlite).await;
    let c = h.confidential().await;
    let (code, pkce) = h.code(&c, "alice", &[]).await;
    let r = h
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &c.redirect_uri),
                ("code_verifier", &pkce.verifier),
                ("resource", "https://api.example"),
            ],
        )
        .await;
    r.assert_oauth_error(400, "invalid_target", "resource not granted");
    let r = h.redeem(&c, &code, Some(&pkce.verifier)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    h.finish().await;
}

/// RFC 8693 is off unless the role enables it, and the engine checks everything it can before
/// asking the role which audiences to grant (this test role grants none).
#[tokio::test]
async fn token_exchange_is_checked_before_the_role_is_asked() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let off = Harness::new(backend).await;
        let c = off.confidential().await;
        let alice = off.login(&c, "alice").await;
        let r = off
            .token(
                &c,
                &[
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", &alice.access),
                    ("subject_token_type", ACCESS_TOKEN_TYPE),
                    ("audience", "https://api.example"),
                ],
            )
            .await;
        r.assert_oauth_error(400, "unsupported_grant_type", "exchange disabled");
        let doc = off
            .get(&off.url("/.well-known/openid-configuration"), &[])
            .await;
        assert!(!doc.body.contains(TOKEN_EXCHANGE));
        off.finish().await;

        let h = Harness::with(backend, |s| s.token_exchange = true).await;
        let doc = h
            .get(&h.url("/.well-known/openid-configuration"), &[])
            .await;
        assert!(
            doc.json()["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(TOKEN_EXCHANGE))
        );
        let c = h.confidential().await;
        let public = h.public_client().await;
        let alice = h.login(&c, "alice").await;
        let cc = h
            .token(&c, &[("grant_type", "client_credentials")])
            .await
            .json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, String)>,
            &'a TestClient,
            u16,
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "no target",
                token_exchange(&alice.access, &[]),
                &c,
                400,
                "invalid_request",
            ),
            (
                "public client",
                token_exchange(&alice.access, &[("audience", "https://api.example")]),
                &public,
                400,
                "unauthorized_client",
            ),
            (
                "subject type",
                token_exchange(
                    &alice.access,
                    &[
                        ("audience", "https://api.example"),
                        (
                            "subject_token_type",
                            "urn:ietf:params:oauth:token-type:id_token",
                        ),
                    ],
                ),
                &c,
                400,
                "invalid_request",
            ),
            (
                "requested type",
                token_exchange(
                    &alice.access,
                    &[
                        ("audience", "https://api.example"),
                        (
                            "requested_token_type",
                            "urn:ietf:params:oauth:token-type:refresh_token",
                        ),
                    ],
                ),
                &c,
                400,
                "invalid_request",
            ),
            (
                "not a token",
                token_exchange(
                    "garbage.garbage.garbage",
                    &[("audience", "https://api.example")],
                ),
                &c,
                400,
                "invalid_request",
            ),
            (
                "refresh token as subject",
                token_exchange(
                    alice.refresh_token(),
                    &[("audience", "https://api.example")],
                ),
                &c,
                400,
                "invalid_request",
            ),
            (
                "client_credentials token",
                token_exchange(&cc, &[("audience", "https://api.example")]),
                &c,
                400,
                "invalid_request",
            ),
            (
                "resource with fragment",
                token_exchange(&alice.access, &[("resource", "https://api.example/#x")]),
                &c,
                400,
                "invalid_target",
            ),
            (
                "wider scope",
                token_exchange(
                    &alice.access,
                    &[
                        ("audience", "https://api.example"),
                        ("scope", "openid admin"),
                    ],
                ),
                &c,
                400,
                "invalid_scope",
            ),
            (
                "actor token without type",
                token_exchange(
                    &alice.access,
                    &[
                        ("audience", "https://api.example"),
                        ("actor_token", "x.y.z"),
                    ],
                ),
                &c,
                400,
                "invalid_request",
            ),
            (
                "role grants nothing",
                token_exchange(&alice.access, &[("audience", "https://api.example")]),
                &c,
                400,
                "invalid_target",
            ),
        ];
        for (what, pairs, by, status, error) in cases {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.token(by, &pairs)
                .await
                .assert_oauth_error(status, error, what);
        }
        // A revoked subject token cannot be exchanged either.
        h.revoke(&c, &alice.access).await;
        let pairs = token_exchange(&alice.access, &[("audience", "https://api.example")]);
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.token(&c, &pairs).await.assert_oauth_error(
            400,
            "invalid_request",
            "revoked subject token",
        );
        h.finish().await;
    }
}

/// An access token never outlives its grant, whatever its own `exp` says.
#[tokio::test]
async fn access_tokens_end_with_their_grant() {
    // Three seconds: a busy machine takes more than one to sign in.
    let h = Harness::with(Backend::Sqlite, |s| s.refresh_token_lifetime = 3).await;
    let c = h.confidential().await;
    let alice = h.login(&c, "alice").await;
    assert_eq!(h.userinfo(&alice.access).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(h.userinfo(&alice.access).await.status, 401);
    assert!(!h.active(&c, &alice.access).await);
    h.finish().await;
}
