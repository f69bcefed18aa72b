//! RFC 8628 device requests: approved or denied once while pending and live, answered once to
//! the client they were issued to, polling too fast grows the interval. Every test runs on
//! SQLite and on PostgreSQL.

use latchkey_store::*;
use latchkey_testkit::on_each_backend;

fn idp() -> IssuerId {
    IssuerId::from("idp")
}

const NOW: i64 = 1_000;

fn request(hash: &str, user_code: &str) -> DeviceCode {
    DeviceCode {
        device_code_hash: hash.into(),
        issuer: idp(),
        user_code: user_code.into(),
        client_id: ClientId::from("tv"),
        scope: "openid email".into(),
        created_at: NOW,
        expires_at: NOW + 900,
        interval: 5,
        last_polled_at: None,
        status: DeviceStatus::Pending,
        subject: None,
        auth_time: None,
        amr: vec![],
        snapshot: None,
    }
}

async fn poll(store: &Store, hash: &str, at: i64) -> DevicePoll {
    store
        .poll_device_code(&idp(), hash, &ClientId::from("tv"), at, 5)
        .await
        .unwrap()
}

#[tokio::test]
async fn approved_once_and_redeemed_once() {
    on_each_backend(|store| async move {
        store
            .create_device_code(&request("h1", "BCDFGHJK"))
            .await
            .unwrap();
        // A user code is unique per issuer, not across issuers.
        assert!(matches!(
            store.create_device_code(&request("h2", "BCDFGHJK")).await,
            Err(StoreError::Conflict)
        ));
        let mut other = request("h3", "BCDFGHJK");
        other.issuer = IssuerId::from("tsidp");
        store.create_device_code(&other).await.unwrap();

        let found = store
            .find_pending_device_code(&idp(), "BCDFGHJK", NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, request("h1", "BCDFGHJK"));
        assert!(
            store
                .find_pending_device_code(&idp(), "BCDFGHJK", NOW + 900)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );

        assert_eq!(
            poll(&store, "h1", NOW + 1).await,
            DevicePoll::Pending {
                slow_down: false,
                interval: 5
            }
        );
        let subject = Subject::from("alice");
        let amr = vec!["phr".to_owned()];
        let approve = |at| {
            let store = store.clone();
            let (subject, amr) = (subject.clone(), amr.clone());
            async move {
                store
                    .approve_device_code(&idp(), "BCDFGHJK", &subject, 900, &amr, "{}", at)
                    .await
                    .unwrap()
            }
        };
        assert!(approve(NOW + 2).await);
        assert!(!approve(NOW + 3).await, "approved once");
        assert!(
            !store
                .deny_device_code(&idp(), "BCDFGHJK", NOW + 3)
                .await
                .unwrap(),
            "no longer pending"
        );
        assert!(
            store
                .find_pending_device_code(&idp(), "BCDFGHJK", NOW + 3)
                .await
                .unwrap()
                .is_none()
        );
        // Another client cannot redeem it.
        assert_eq!(
            store
                .poll_device_code(&idp(), "h1", &ClientId::from("evil"), NOW + 10, 5)
                .await
                .unwrap(),
            DevicePoll::NotFound
        );
        let DevicePoll::Approved(d) = poll(&store, "h1", NOW + 10).await else {
            panic!("approved")
        };
        assert_eq!(d.status, DeviceStatus::Approved);
        assert_eq!(d.subject, Some(subject.clone()));
        assert_eq!(d.auth_time, Some(900));
        assert_eq!(d.amr, amr);
        assert_eq!(d.snapshot.as_deref(), Some("{}"));
        assert_eq!(d.last_polled_at, Some(NOW + 1));
        assert_eq!(poll(&store, "h1", NOW + 20).await, DevicePoll::NotFound);
        // The other issuer's request with the same user code is untouched.
        assert!(
            store
                .find_pending_device_code(&IssuerId::from("tsidp"), "BCDFGHJK", NOW)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn slow_down_grows_the_interval() {
    on_each_backend(|store| async move {
        store
            .create_device_code(&request("h1", "MNPQRSTV"))
            .await
            .unwrap();
        let pending = |slow_down, interval| DevicePoll::Pending {
            slow_down,
            interval,
        };
        assert_eq!(poll(&store, "h1", NOW).await, pending(false, 5));
        assert_eq!(poll(&store, "h1", NOW + 1).await, pending(true, 10));
        // The new interval counts from the last poll.
        assert_eq!(poll(&store, "h1", NOW + 9).await, pending(true, 15));
        assert_eq!(poll(&store, "h1", NOW + 24).await, pending(false, 15));
        assert_eq!(poll(&store, "h1", NOW + 39).await, pending(false, 15));
    })
    .await;
}

#[tokio::test]
async fn denied_expired_and_purged() {
    on_each_backend(|store| async move {
        store
            .create_device_code(&request("h1", "WXZBCDFG"))
            .await
            .unwrap();
        store
            .create_device_code(&request("h2", "HJKLMNPQ"))
            .await
            .unwrap();
        assert!(
            store
                .deny_device_code(&idp(), "WXZBCDFG", NOW + 1)
                .await
                .unwrap()
        );
        assert!(
            !store
                .approve_device_code(
                    &idp(),
                    "WXZBCDFG",
                    &Subject::from("alice"),
                    1,
                    &[],
                    "{}",
                    NOW + 2
                )
                .await
                .unwrap(),
            "denied stays denied"
        );
        assert_eq!(poll(&store, "h1", NOW + 3).await, DevicePoll::Denied);
        assert_eq!(poll(&store, "h1", NOW + 9).await, DevicePoll::NotFound);

        // Past its expiry a request can be neither decided nor redeemed.
        let late = NOW + 900;
        assert!(
            !store
                .approve_device_code(&idp(), "HJKLMNPQ", &Subject::from("a"), 1, &[], "{}", late)
                .await
                .unwrap()
        );
        assert!(
            !store
                .deny_device_code(&idp(), "HJKLMNPQ", late)
                .await
                .unwrap()
        );
        assert_eq!(poll(&store, "h2", late).await, DevicePoll::Expired);

        // An approved request that expired before its device came back: expired too.
        store
            .create_device_code(&request("h3", "TVWXZBCD"))
            .await
            .unwrap();
        assert!(
            store
                .approve_device_code(&idp(), "TVWXZBCD", &Subject::from("a"), 1, &[], "{}", NOW)
                .await
                .unwrap()
        );
        assert_eq!(poll(&store, "h3", late).await, DevicePoll::Expired);

        assert!(store.delete_expired(late + 1).await.unwrap() >= 2);
        assert_eq!(poll(&store, "h2", late).await, DevicePoll::NotFound);
        assert_eq!(poll(&store, "h3", late).await, DevicePoll::NotFound);
    })
    .await;
}
