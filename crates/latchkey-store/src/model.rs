//! Records as the store hands them out. Times are Unix seconds.

use serde::{Deserialize, Serialize};

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Unix time as a UTC calendar date and time: `[year, month, day, hour, minute, second]`
/// (proleptic Gregorian; Howard Hinnant's days-to-civil).
pub fn utc_parts(t: i64) -> [i64; 6] {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    [year, month, day, secs / 3600, secs % 3600 / 60, secs % 60]
}

macro_rules! string_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }
    )*};
}

string_id! {
    /// Which OpenID Provider a record belongs to: a stable name from configuration (today
    /// `idp` and `tsidp`, one per role section), not the issuer URL, so that an issuer can
    /// change its URL, and a second issuer or a new role needs no change here.
    IssuerId,
    /// An OAuth client's `client_id`.
    ClientId,
    /// One authorization: what a code and every token issued from it belong to.
    GrantId,
    /// The `sub` claim.
    Subject,
    /// A person in the directory.
    UserId,
    /// A group in the directory.
    GroupId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub issuer: IssuerId,
    pub id: ClientId,
    pub name: String,
    /// SHA-256 (hex) of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `id_token_signed_response_alg`.
    pub id_token_alg: String,
    /// Registration metadata kept as given (RFC 7591), for the registration response.
    pub metadata: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub issuer: IssuerId,
    pub client_id: ClientId,
    pub subject: Subject,
    pub scope: String,
    pub auth_time: i64,
    /// What the role vouched for at sign-in: the engine's sign-in snapshot, a JSON document
    /// the store keeps as given. Served again at userinfo and in refreshed ID tokens.
    pub snapshot: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub issuer: IssuerId,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub subject: Subject,
    pub scope: String,
    pub auth_time: i64,
    pub extra: serde_json::Value,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Outcome of consuming a single-use record (rotating a refresh token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption<T> {
    /// First use: the record as it was.
    Redeemed(T),
    /// Used before: the caller must treat it as replay (and revoke the grant).
    Replayed(T),
    NotFound,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub issuer: IssuerId,
    pub alg: String,
    /// The private key, sealed with the instance encryption key.
    pub sealed_key: Vec<u8>,
    pub created_at: i64,
    /// When it stopped signing; `None` while current.
    pub retired_at: Option<i64>,
    /// After this it is no longer published either.
    pub publish_until: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub issuer: IssuerId,
    pub subject: Subject,
    pub client_id: ClientId,
    pub scope: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub issuer: IssuerId,
    pub subject: Subject,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// What the browser called itself at sign-in, for the person's list of sessions.
    pub user_agent: String,
    /// The client address at sign-in.
    pub ip: String,
    /// Refreshed at most once a minute while the session is used.
    pub last_used_at: i64,
}

/// A person's passkey (a WebAuthn credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passkey {
    /// base64url of the credential id.
    pub credential_id: String,
    pub user_id: UserId,
    pub name: String,
    /// The credential's public key, COSE-encoded.
    pub public_key: Vec<u8>,
    /// 0 when the authenticator keeps no counter.
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub transports: Vec<String>,
    /// Hex, as the authenticator reported it (unverified).
    pub aaguid: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A link that signs someone in once: the setup link for the first administrator (no user
/// yet), or a sign-in link for a person. Only the token's digest is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTimeLink {
    pub token_hash: String,
    pub issuer: IssuerId,
    pub purpose: LinkPurpose,
    /// `None` for the setup link.
    pub user_id: Option<UserId>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Makes the first administrator; valid only while nobody is an administrator.
    Setup,
    /// Signs a person in.
    SignIn,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::SignIn => "sign_in",
        }
    }

    pub fn parse(s: &str) -> Option<LinkPurpose> {
        match s {
            "setup" => Some(LinkPurpose::Setup),
            "sign_in" => Some(LinkPurpose::SignIn),
            _ => None,
        }
    }
}

/// A person in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Unique, compared without case.
    pub username: String,
    /// Unique when set, compared without case.
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    /// What the `groups` claim carries; unique, compared without case.
    pub name: String,
    pub friendly_name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the directory says about a person beyond their profile: the names of their groups
/// (sorted) and their custom claims, a user's own value winning over any group's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryClaims {
    pub groups: Vec<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub issuer: IssuerId,
    pub kind: String,
    pub subject: Option<Subject>,
    pub client_id: Option<ClientId>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: i64,
}

pub(crate) fn parse_json(s: &str) -> crate::Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| crate::StoreError::Malformed(e.to_string()))
}

pub(crate) fn parse_list(s: &str) -> crate::Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| crate::StoreError::Malformed(e.to_string()))
}

pub(crate) fn list_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}
