//! The auth proxy's sessions, on SQLite and on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use latchkey_store::*;
use latchkey_testkit::{TestDb, backends, on_each_backend};

fn proxy() -> ProxyId {
    ProxyId::from("proxy")
}

fn identity(sub: &str, sid: Option<&str>) -> ProxyIdentity {
    ProxyIdentity {
        subject: Subject::from(sub),
        sid: sid.map(str::to_owned),
        user: sub.to_owned(),
        email: Some(format!("{sub}@example.com")),
        email_verified: true,
        preferred_username: Some(sub.to_owned()),
        groups: vec!["staff".into(), "ops".into()],
    }
}

fn session(id_hash: &str, sub: &str, sid: Option<&str>) -> ProxySession {
    ProxySession {
        id_hash: id_hash.into(),
        proxy: proxy(),
        identity: identity(sub, sid),
        tokens: SealedTokens {
            access: vec![1, 2, 3],
            id: Some(vec![4, 5]),
            refresh: Some(vec![6]),
        },
        tokens_expire_at: Some(500),
        created_at: 100,
        refreshed_at: 100,
        expires_at: 1_000,
        generation: 0,
        lease_until: None,
    }
}

#[tokio::test]
async fn proxy_sessions_round_trip_per_proxy() {
    on_each_backend(|store| async move {
        let s = session("h1", "alice", Some("sid-1"));
        store.create_proxy_session(&s).await.unwrap();
        assert!(matches!(
            store.create_proxy_session(&s).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.find_proxy_session(&proxy(), "h1", 200).await.unwrap(),
            Some(s.clone())
        );
        // Another proxy does not see it; nor does anyone once it has ended.
        let other = ProxyId::from("other");
        assert_eq!(
            store.find_proxy_session(&other, "h1", 200).await.unwrap(),
            None
        );
        assert!(!store.delete_proxy_session(&other, "h1").await.unwrap());
        assert_eq!(
            store
                .find_proxy_session(&proxy(), "h1", 1_000)
                .await
                .unwrap(),
            None
        );

        // A session without the optional parts.
        let mut bare = session("h2", "bob", None);
        bare.identity.email = None;
        bare.identity.email_verified = false;
        bare.identity.preferred_username = None;
        bare.identity.groups = vec![];
        bare.tokens.id = None;
        bare.tokens.refresh = None;
        bare.tokens_expire_at = None;
        store.create_proxy_session(&bare).await.unwrap();
        assert_eq!(
            store.find_proxy_session(&proxy(), "h2", 200).await.unwrap(),
            Some(bare)
        );

        assert!(store.delete_proxy_session(&proxy(), "h1").await.unwrap());
        assert!(!store.delete_proxy_session(&proxy(), "h1").await.unwrap());
        assert_eq!(
            store.find_proxy_session(&proxy(), "h1", 200).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn proxy_refresh_lease_is_single_flight() {
    on_each_backend(|store| async move {
        store
            .create_proxy_session(&session("h1", "alice", None))
            .await
            .unwrap();
        let p = proxy();
        assert!(
            store
                .take_proxy_refresh_lease(&p, "h1", 0, "a", 200, 210)
                .await
                .unwrap()
        );
        // Held: nobody else gets it, not even for the same generation.
        assert!(
            !store
                .take_proxy_refresh_lease(&p, "h1", 0, "b", 205, 215)
                .await
                .unwrap()
        );
        let held = store
            .find_proxy_session(&p, "h1", 205)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.lease_until, Some(210));

        // Only the holder may write the refresh, which frees the lease and moves on.
        let refresh = ProxySessionRefresh {
            identity: ProxyIdentity {
                groups: vec!["admins".into()],
                ..identity("alice", Some("sid-2"))
            },
            tokens: SealedTokens {
                access: vec![9],
                id: None,
                refresh: Some(vec![8]),
            },
            tokens_expire_at: Some(900),
            refreshed_at: 206,
            expires_at: 2_000,
        };
        assert!(
            !store
                .update_proxy_session_refreshed(&p, "h1", "b", &refresh)
                .await
                .unwrap()
        );
        assert!(
            store
                .update_proxy_session_refreshed(&p, "h1", "a", &refresh)
                .await
                .unwrap()
        );
        let after = store
            .find_proxy_session(&p, "h1", 207)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.generation, 1);
        assert_eq!(after.lease_until, None);
        assert_eq!(after.identity, refresh.identity);
        assert_eq!(after.tokens, refresh.tokens);
        assert_eq!(after.tokens_expire_at, Some(900));
        assert_eq!(after.refreshed_at, 206);
        assert_eq!(after.expires_at, 2_000);
        assert_eq!(after.created_at, 100);

        // A lease for the old generation is refused: someone refreshed already.
        assert!(
            !store
                .take_proxy_refresh_lease(&p, "h1", 0, "c", 208, 218)
                .await
                .unwrap()
        );
        // A lease whose holder vanished runs out; then another takes it.
        assert!(
            store
                .take_proxy_refresh_lease(&p, "h1", 1, "c", 208, 218)
                .await
                .unwrap()
        );
        assert!(
            !store
                .take_proxy_refresh_lease(&p, "h1", 1, "d", 217, 227)
                .await
                .unwrap()
        );
        assert!(
            store
                .take_proxy_refresh_lease(&p, "h1", 1, "d", 218, 228)
                .await
                .unwrap()
        );
        // The late first holder can neither write nor release.
        assert!(
            !store
                .update_proxy_session_refreshed(&p, "h1", "c", &refresh)
                .await
                .unwrap()
        );
        assert!(
            !store
                .release_proxy_refresh_lease(&p, "h1", "c")
                .await
                .unwrap()
        );
        assert!(
            store
                .release_proxy_refresh_lease(&p, "h1", "d")
                .await
                .unwrap()
        );
        assert!(
            store
                .take_proxy_refresh_lease(&p, "h1", 1, "e", 219, 229)
                .await
                .unwrap()
        );
        // No lease on a session that is gone.
        assert!(
            !store
                .take_proxy_refresh_lease(&p, "nope", 0, "f", 219, 229)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn proxy_refresh_lease_has_one_winner_among_concurrent_takers() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        // Two stores on one database stand for two replicas.
        let replicas = [db.store().await, db.store().await];
        replicas[0]
            .create_proxy_session(&session("h1", "alice", None))
            .await
            .unwrap();
        let won = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let store = replicas[i % 2].clone();
            let won = won.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("t{i}");
                if store
                    .take_proxy_refresh_lease(&proxy(), "h1", 0, &holder, 200, 210)
                    .await
                    .unwrap()
                {
                    won.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(won.load(Ordering::SeqCst), 1, "{backend:?}");
        for store in replicas {
            store.close().await;
        }
        db.cleanup().await;
    }
}

#[tokio::test]
async fn proxy_sessions_end_by_sid_subject_and_expiry() {
    on_each_backend(|store| async move {
        let p = proxy();
        store
            .create_proxy_session(&session("a1", "alice", Some("s1")))
            .await
            .unwrap();
        store
            .create_proxy_session(&session("a2", "alice", Some("s1")))
            .await
            .unwrap();
        store
            .create_proxy_session(&session("a3", "alice", Some("s2")))
            .await
            .unwrap();
        store
            .create_proxy_session(&session("b1", "bob", Some("s3")))
            .await
            .unwrap();
        let mut elsewhere = session("x1", "alice", Some("s1"));
        elsewhere.proxy = ProxyId::from("other");
        store.create_proxy_session(&elsewhere).await.unwrap();

        assert_eq!(
            store.delete_proxy_sessions_by_sid(&p, "s1").await.unwrap(),
            2
        );
        assert_eq!(
            store.delete_proxy_sessions_by_sid(&p, "s1").await.unwrap(),
            0
        );
        assert!(
            store
                .find_proxy_session(&p, "a3", 200)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .delete_proxy_sessions_by_subject(&p, &Subject::from("alice"))
                .await
                .unwrap(),
            1
        );
        assert!(
            store
                .find_proxy_session(&p, "b1", 200)
                .await
                .unwrap()
                .is_some()
        );
        // The other proxy's session is untouched by both.
        let other = ProxyId::from("other");
        assert!(
            store
                .find_proxy_session(&other, "x1", 200)
                .await
                .unwrap()
                .is_some()
        );

        let mut old = session("o1", "carol", None);
        old.expires_at = 150;
        store.create_proxy_session(&old).await.unwrap();
        assert_eq!(store.delete_expired_proxy_sessions(200).await.unwrap(), 1);
        assert!(
            store
                .find_proxy_session(&p, "b1", 200)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}
