//! What people sign in with: passkeys, finished ceremonies, one-time links, their sessions.
//! Every test runs on SQLite and on PostgreSQL.

use latchkey_store::*;
use latchkey_testkit::on_each_backend;

fn idp() -> IssuerId {
    IssuerId::from("idp")
}

fn user(id: &str, admin: bool) -> User {
    User {
        id: UserId::from(id),
        username: id.into(),
        email: Some(format!("{id}@example.com")),
        email_verified: true,
        first_name: String::new(),
        last_name: String::new(),
        display_name: id.into(),
        is_admin: admin,
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

fn passkey(id: &str, user: &str) -> Passkey {
    Passkey {
        credential_id: id.into(),
        user_id: UserId::from(user),
        name: "Test Passkey".into(),
        public_key: vec![0xa5, 1, 2, 3],
        sign_count: 0,
        backup_eligible: false,
        backup_state: false,
        transports: vec!["internal".into(), "hybrid".into()],
        aaguid: "00".repeat(16),
        created_at: 10,
        last_used_at: None,
    }
}

#[tokio::test]
async fn passkeys_belong_to_people_and_count_up_once() {
    on_each_backend(|store| async move {
        store.create_user(&user("alice", true)).await.unwrap();
        store.create_user(&user("bob", false)).await.unwrap();
        let mut p = passkey("cred1", "alice");
        store.create_passkey(&p).await.unwrap();
        // A credential id is registered once, to anyone.
        assert!(matches!(
            store.create_passkey(&passkey("cred1", "bob")).await,
            Err(StoreError::Conflict)
        ));
        // A passkey for nobody is refused by the database.
        assert!(
            store
                .create_passkey(&passkey("cred9", "nobody"))
                .await
                .is_err()
        );
        assert_eq!(store.find_passkey("cred1").await.unwrap(), Some(p.clone()));
        assert_eq!(store.find_passkey("cred2").await.unwrap(), None);

        let used = PasskeyUse {
            sign_count: 5,
            backup_eligible: true,
            backup_state: true,
            at: 20,
        };
        assert!(store.update_passkey_use("cred1", 0, used).await.unwrap());
        // The same assertion again (the counter it saw is gone) does not count.
        assert!(!store.update_passkey_use("cred1", 0, used).await.unwrap());
        p.sign_count = 5;
        p.backup_eligible = true;
        p.backup_state = true;
        p.last_used_at = Some(20);
        assert_eq!(store.find_passkey("cred1").await.unwrap(), Some(p.clone()));

        // Only the owner renames or deletes.
        assert!(
            !store
                .update_passkey_name(&UserId::from("bob"), "cred1", "x")
                .await
                .unwrap()
        );
        assert!(
            store
                .update_passkey_name(&UserId::from("alice"), "cred1", "YubiKey")
                .await
                .unwrap()
        );
        store
            .create_passkey(&passkey("cred2", "alice"))
            .await
            .unwrap();
        let list = store.list_passkeys(&UserId::from("alice")).await.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "YubiKey");
        assert!(
            !store
                .delete_passkey(&UserId::from("bob"), "cred2")
                .await
                .unwrap()
        );
        assert!(
            store
                .delete_passkey(&UserId::from("alice"), "cred2")
                .await
                .unwrap()
        );
        // Deleting the person deletes their passkeys.
        store.delete_user(&UserId::from("alice")).await.unwrap();
        assert_eq!(store.find_passkey("cred1").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_ceremony_finishes_once() {
    on_each_backend(|store| async move {
        assert!(store.create_used_ceremony("c1", 100).await.unwrap());
        assert!(!store.create_used_ceremony("c1", 100).await.unwrap());
        assert!(store.create_used_ceremony("c2", 50).await.unwrap());
        store.delete_expired(60).await.unwrap();
        // c2 expired and is gone; c1 is still remembered.
        assert!(store.create_used_ceremony("c2", 50).await.unwrap());
        assert!(!store.create_used_ceremony("c1", 100).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn one_time_links_are_taken_once_and_expire() {
    on_each_backend(|store| async move {
        store.create_user(&user("alice", false)).await.unwrap();
        let link = OneTimeLink {
            token_hash: "h1".into(),
            issuer: idp(),
            purpose: LinkPurpose::SignIn,
            user_id: Some(UserId::from("alice")),
            created_at: 10,
            expires_at: 100,
        };
        store.create_one_time_link(&link).await.unwrap();
        assert_eq!(
            store.find_one_time_link(&idp(), "h1", 20).await.unwrap(),
            Some(link.clone())
        );
        assert_eq!(
            store.find_one_time_link(&idp(), "h1", 100).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .take_one_time_link(&IssuerId::from("other"), "h1", 20)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.take_one_time_link(&idp(), "h1", 20).await.unwrap(),
            Some(link.clone())
        );
        assert_eq!(
            store.take_one_time_link(&idp(), "h1", 20).await.unwrap(),
            None
        );

        let setup = OneTimeLink {
            token_hash: "h2".into(),
            purpose: LinkPurpose::Setup,
            user_id: None,
            ..link.clone()
        };
        store.create_one_time_link(&setup).await.unwrap();
        // Expired: not given, and gone.
        assert_eq!(
            store.take_one_time_link(&idp(), "h2", 100).await.unwrap(),
            None
        );
        store.create_one_time_link(&setup).await.unwrap();
        assert_eq!(
            store
                .delete_one_time_links(&idp(), LinkPurpose::Setup)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store.take_one_time_link(&idp(), "h2", 20).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn a_person_lists_and_ends_their_sessions() {
    on_each_backend(|store| async move {
        let alice = Subject::from("alice");
        let session = |id: &str, subject: &str, last: i64| Session {
            id_hash: id.into(),
            issuer: idp(),
            subject: Subject::from(subject),
            auth_time: 10,
            amr: vec!["phr".into()],
            created_at: 10,
            expires_at: 1000,
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into(),
            ip: "192.0.2.7".into(),
            last_used_at: last,
        };
        store
            .create_session(&session("s1", "alice", 10))
            .await
            .unwrap();
        store
            .create_session(&session("s2", "alice", 30))
            .await
            .unwrap();
        store
            .create_session(&session("s3", "bob", 10))
            .await
            .unwrap();
        let list = store.list_sessions(&idp(), &alice, 50).await.unwrap();
        assert_eq!(
            list.iter().map(|s| s.id_hash.as_str()).collect::<Vec<_>>(),
            ["s2", "s1"]
        );
        assert_eq!(list[0], session("s2", "alice", 30));

        // A use is recorded only when the last one is old enough.
        store.update_session_use("s1", 100, 40).await.unwrap();
        assert_eq!(
            store
                .find_session(&idp(), "s1", 100)
                .await
                .unwrap()
                .unwrap()
                .last_used_at,
            100
        );
        store.update_session_use("s1", 120, 90).await.unwrap();
        assert_eq!(
            store
                .find_session(&idp(), "s1", 120)
                .await
                .unwrap()
                .unwrap()
                .last_used_at,
            100
        );

        // Alice cannot end Bob's session by naming it.
        assert!(
            !store
                .delete_subject_session(&idp(), &alice, "s3")
                .await
                .unwrap()
        );
        assert!(
            store
                .delete_subject_session(&idp(), &alice, "s1")
                .await
                .unwrap()
        );
        assert_eq!(
            store.delete_subject_sessions(&idp(), &alice).await.unwrap(),
            1
        );
        assert!(
            store
                .list_sessions(&idp(), &alice, 50)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .find_session(&idp(), "s3", 50)
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn administrators_are_counted_for_the_setup_link() {
    on_each_backend(|store| async move {
        assert_eq!(store.count_admins().await.unwrap(), 0);
        store.create_user(&user("bob", false)).await.unwrap();
        assert_eq!(store.count_admins().await.unwrap(), 0);
        let mut alice = user("alice", true);
        store.create_user(&alice).await.unwrap();
        assert_eq!(store.count_admins().await.unwrap(), 1);
        alice.disabled = true;
        store.update_user(&alice).await.unwrap();
        assert_eq!(store.count_admins().await.unwrap(), 0);
    })
    .await;
}
