//! Sessions in Redis (`--session-store-type redis`, Redis at 127.0.0.1:6379): the same flows
//! as in the database, the refresh single-flight across replicas included. Each test has a
//! proxy id of its own, so its keys (`latchkey:proxy:<id>:…`) are its own.

mod common;

use std::sync::Arc;

use common::*;
use latchkey_proxy::ProxySettings;
use latchkey_proxy::session::{RedisUrl, SessionStoreType};
use latchkey_store::Subject;

const REDIS: &str = "redis://127.0.0.1:6379/3";

fn unique_id(test: &str) -> String {
    format!("redis-test-{}-{test}", std::process::id())
}

fn on_redis(s: &mut ProxySettings, id: &str) {
    s.id = id.into();
    s.session_store_type = SessionStoreType::Redis;
    s.redis_connection_url = Some(RedisUrl(REDIS.into()));
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts one)")
}

/// This proxy's session keys in Redis.
async fn session_keys(id: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(format!("latchkey:proxy:{id}:session:*"))
        .query_async(&mut redis().await)
        .await
        .unwrap()
}

async fn forget(id: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("latchkey:proxy:{id}:*"))
        .query_async(&mut redis().await)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut redis().await)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn sign_in_one_refresh_and_sign_out_in_redis() {
    let id = unique_id("flow");
    let w = World::start(|s| {
        on_redis(s, &id);
        refresh_often(s);
    })
    .await;
    let b = Arc::new(Browser::new());
    let r = w.sign_in(&b, "alice", "/").await;
    assert_eq!(r.status, 302, "{}", r.body);

    // The session is a Redis key that expires with the cookie (168 h).
    let keys = session_keys(&id).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut redis().await)
        .await
        .unwrap();
    assert!((168 * 3600 - 60..=168 * 3600).contains(&ttl), "TTL {ttl}");
    // Tokens are kept sealed: the access token is not in Redis in clear.
    let first = b.get(&w.url("/app"), &[]).await;
    let token = first.upstream_header("x-forwarded-access-token").remove(0);
    let state: String = redis::cmd("HGET")
        .arg(&keys[0])
        .arg("state")
        .query_async(&mut redis().await)
        .await
        .unwrap();
    assert!(!state.contains(&token));

    one_refresh_for_twenty(&w, &b, &[]).await;

    // Sign-out ends it in Redis: the old cookie, replayed, is refused.
    let good = b.cookie("_oauth2_proxy").unwrap();
    let r = b.get(&w.url("/oauth2/sign_out"), &[]).await;
    assert_eq!(r.status, 302);
    assert!(session_keys(&id).await.is_empty());
    let replay = Browser::new();
    replay.set_cookie("_oauth2_proxy", &good);
    assert_eq!(replay.get(&w.url("/oauth2/auth"), &[]).await.status, 401);
    assert_eq!(b.get(&w.url("/ready"), &[]).await.status, 200);
    w.stop().await;
    forget(&id).await;
}

/// Two replicas on one Redis, the concurrent requests shared between them: one refresh.
#[tokio::test]
async fn replicas_on_one_redis_share_one_refresh() {
    let id = unique_id("replicas");
    let w = World::start(|s| {
        on_redis(s, &id);
        refresh_often(s);
    })
    .await;
    let (replica, replica_url) = w.replica(|_| {}).await;
    let b = Arc::new(Browser::new());
    w.sign_in(&b, "alice", "/").await;
    // The replica knows the session from Redis alone.
    let r = b.get(&format!("{replica_url}/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 202);
    one_refresh_for_twenty(&w, &b, &[format!("{replica_url}/app")]).await;
    replica.stop().await;
    w.stop().await;
    forget(&id).await;
}

#[tokio::test]
async fn back_channel_logout_ends_redis_sessions() {
    let id = unique_id("backchannel");
    let w = World::start(|s| on_redis(s, &id)).await;
    let alice = Browser::new();
    let alice2 = Browser::new();
    let bob = Browser::new();
    for (b, who) in [(&alice, "alice"), (&alice2, "alice"), (&bob, "bob")] {
        assert_eq!(w.sign_in(b, who, "/").await.status, 302);
    }
    assert_eq!(session_keys(&id).await.len(), 3);
    let token = w
        .provider
        .mint_logout_token(&*w.client().await, &Subject::from("alice"), None)
        .await
        .unwrap();
    assert_eq!(w.post_logout(&token).await.0, 200);
    assert_eq!(alice.get(&w.url("/oauth2/auth"), &[]).await.status, 401);
    assert_eq!(alice2.get(&w.url("/oauth2/auth"), &[]).await.status, 401);
    assert_eq!(bob.get(&w.url("/oauth2/auth"), &[]).await.status, 202);
    assert_eq!(session_keys(&id).await.len(), 1);
    w.stop().await;
    forget(&id).await;
}

/// Redis not answering: a clear 503 (the ready path, and the callback's page), never a 500.
#[tokio::test]
async fn redis_down_is_a_clear_503() {
    let w = World::start(|s| {
        on_redis(s, "redis-down");
        s.redis_connection_url = Some(RedisUrl("redis://127.0.0.1:1/0".into()));
    })
    .await;
    let b = Browser::new();
    assert_eq!(b.get(&w.url("/ready"), &[]).await.status, 503);
    let r = w.sign_in(&b, "alice", "/").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("Sessions cannot be read right now"),
        "{}",
        r.body
    );
    w.stop().await;
}

#[test]
fn redis_settings_are_checked() {
    let mut s = common::offline_settings();
    s.session_store_type = SessionStoreType::Redis;
    let e = latchkey_proxy::check_settings(&s).unwrap_err();
    assert_eq!(e.option, "redis-connection-url");
    for bad in ["rediss://r:6379", "http://r:6379", "nonsense"] {
        s.redis_connection_url = Some(RedisUrl(bad.into()));
        let e = latchkey_proxy::check_settings(&s).unwrap_err();
        assert_eq!(e.option, "redis-connection-url", "{bad}");
    }
    s.redis_connection_url = Some(RedisUrl("redis://:hunter2@r:6379/2".into()));
    latchkey_proxy::check_settings(&s).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"));
}
