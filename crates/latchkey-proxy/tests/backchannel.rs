//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a logout token signed by the
//! provider ends the person's proxy sessions; anything else is refused and ends nothing.

mod common;

use common::*;
use latchkey_store::{ClientId, Subject};

#[tokio::test]
async fn a_logout_token_from_the_provider_ends_the_persons_sessions() {
    let w = World::start(|_| {}).await;
    let alice = Browser::new();
    let bob = Browser::new();
    assert_eq!(w.sign_in(&alice, "alice", "/").await.status, 302);
    assert_eq!(w.sign_in(&bob, "bob", "/").await.status, 302);
    assert_eq!(alice.get(&w.url("/app"), &[]).await.status, 200);

    let client = w.client().await;
    // Refused, and nothing ends: no token, garbage, another audience (an ID token, with its
    // nonce and no logout event, is refused by the claim checks' unit tests).
    let refused = |status: u16| assert_eq!(status, 400);
    refused(
        reqwest::Client::new()
            .post(w.url("/oauth2/backchannel_logout"))
            .form(&[("other", "x")])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
    );
    refused(w.post_logout("not.a.jwt").await.0);
    let mut other = (*client).clone();
    other.id = ClientId::from("someone-else");
    let foreign = w
        .provider
        .mint_logout_token(&other, &Subject::from("alice"), None)
        .await
        .unwrap();
    let (status, body) = w.post_logout(&foreign).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
    assert_eq!(
        alice.get(&w.url("/app"), &[]).await.status,
        200,
        "still signed in"
    );

    // The provider's logout token for Alice: her session ends, Bob's does not.
    let token = w
        .provider
        .mint_logout_token(&client, &Subject::from("alice"), None)
        .await
        .unwrap();
    let (status, body) = w.post_logout(&token).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(
        alice.get(&w.url("/app"), &[]).await.status,
        200,
        "signed out"
    );
    assert_eq!(bob.get(&w.url("/app"), &[]).await.status, 200);
    w.stop().await;
}
