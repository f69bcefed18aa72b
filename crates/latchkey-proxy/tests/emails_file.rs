//! `--authenticated-emails-file` is read again when it changes: no restart to let someone in
//! or to shut them out, and a broken edit keeps the last good list.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Browser, World};
use latchkey_proxy::rules::RECHECK;

/// Long enough for the next request to look at the file again.
async fn after_recheck() {
    tokio::time::sleep(RECHECK + Duration::from_millis(300)).await;
}

fn write(path: &PathBuf, text: &str) {
    std::fs::write(path, text).expect("write the e-mails file");
}

#[tokio::test]
async fn the_file_is_read_again_when_it_changes() {
    let dir = std::env::temp_dir().join(format!("latchkey-emails-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("emails.txt");
    write(&path, "# who may pass\nbob@example.com\n");
    let file = path.clone();
    let w = World::start(move |s| {
        s.email_domains = vec![];
        s.authenticated_emails_file = Some(file);
    })
    .await;

    // alice is not listed: refused at sign-in.
    let alice = Browser::new();
    let r = w.sign_in(&alice, "alice", "/app").await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Listed now: let in, no restart.
    write(&path, "bob@example.com\nAlice@Example.com # added\n");
    after_recheck().await;
    let r = w.sign_in(&alice, "alice", "/app").await;
    assert_eq!(r.status, 302, "{}", r.body);
    let r = alice.get(&w.url("/app"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A malformed edit, then the file gone: the last good list stays.
    write(&path, "bob@example.com\nthis is not an address\n");
    after_recheck().await;
    assert_eq!(alice.get(&w.url("/app"), &[]).await.status, 200);
    std::fs::remove_file(&path).unwrap();
    after_recheck().await;
    assert_eq!(alice.get(&w.url("/oauth2/auth"), &[]).await.status, 202);

    // Taken off the list: her session no longer passes.
    write(&path, "bob@example.com\n");
    after_recheck().await;
    let r = alice.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 401);
    let bob = Browser::new();
    assert_eq!(w.sign_in(&bob, "bob", "/app").await.status, 302);
    assert_eq!(bob.get(&w.url("/app"), &[]).await.status, 200);

    w.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file that cannot be read at start is a settings error naming the option.
#[test]
fn an_unreadable_file_at_start_is_refused() {
    let mut s = common::offline_settings();
    s.authenticated_emails_file = Some("/nonexistent/emails.txt".into());
    let e = latchkey_proxy::check_settings(&s).unwrap_err();
    assert_eq!(e.option, "authenticated-emails-file");
}
