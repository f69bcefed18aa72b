//! One-time links: the setup link that makes the first administrator, and sign-in links an
//! administrator makes for a person (`latchkey users login-link`, the admin pages). The link
//! carries a random token; the store keeps its digest.

use latchkey_oidc::crypto::{random_token, sha256_hex};
use latchkey_store::{IssuerId, LinkPurpose, OneTimeLink, Store, StoreError, UserId, unix_now};

/// How long a setup link lasts.
pub const SETUP_LINK_LIFETIME: i64 = 24 * 3600;
/// Default lifetime of a sign-in link.
pub const SIGN_IN_LINK_LIFETIME: i64 = 15 * 60;

/// Makes a link and gives its URL. `user` is `None` for the setup link.
pub async fn create_link(
    store: &Store,
    issuer_id: &IssuerId,
    issuer: &str,
    purpose: LinkPurpose,
    user: Option<&UserId>,
    lifetime: i64,
) -> Result<String, StoreError> {
    let token = random_token();
    let now = unix_now();
    store
        .create_one_time_link(&OneTimeLink {
            token_hash: sha256_hex(token.as_bytes()),
            issuer: issuer_id.clone(),
            purpose,
            user_id: user.cloned(),
            created_at: now,
            expires_at: now + lifetime,
        })
        .await?;
    let path = match purpose {
        LinkPurpose::Setup => "setup",
        LinkPurpose::SignIn => "lc",
    };
    Ok(format!("{}/{path}/{token}", issuer.trim_end_matches('/')))
}

/// A setup link, if nobody administers this Latchkey yet.
pub async fn setup_link_if_needed(
    store: &Store,
    issuer_id: &IssuerId,
    issuer: &str,
) -> Result<Option<String>, StoreError> {
    if store.count_admins().await? > 0 {
        return Ok(None);
    }
    // Only the newest setup link works: links printed at earlier starts stop working.
    store
        .delete_one_time_links(issuer_id, LinkPurpose::Setup)
        .await?;
    create_link(
        store,
        issuer_id,
        issuer,
        LinkPurpose::Setup,
        None,
        SETUP_LINK_LIFETIME,
    )
    .await
    .map(Some)
}
