//! Ceremony state sealed into a cookie value, so the replica that finishes a ceremony need not
//! be the one that started it, and no database row is written per `/login/start`.
//!
//! Plaintext: version (1) | expiry, Unix seconds, big-endian (8) | challenge (16) | the
//! `webauthn_rp` server state. It is sealed with AES-256-GCM under associated data naming the
//! ceremony kind, so a registration state cannot open as a sign-in one or the reverse.

use latchkey_oidc::crypto::{self, MasterKey};

use super::PasskeyError;

/// Which ceremony a state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Registration,
    Authentication,
}

impl Kind {
    fn aad(self) -> &'static [u8] {
        match self {
            Self::Registration => b"latchkey/passkey/v1/registration",
            Self::Authentication => b"latchkey/passkey/v1/authentication",
        }
    }
}

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + 16;
/// A real state seals to about 130 characters; anything far longer is refused before decoding.
const MAX_SEALED_LEN: usize = 1024;

/// An opened, authentic state.
#[derive(Debug)]
pub(crate) struct Opened {
    pub challenge: [u8; 16],
    pub expires_at: i64,
    pub inner: Vec<u8>,
}

pub(crate) fn seal(
    key: &MasterKey,
    kind: Kind,
    challenge: [u8; 16],
    expires_at: i64,
    inner: &[u8],
) -> String {
    let mut plain = Vec::with_capacity(HEADER_LEN + inner.len());
    plain.push(VERSION);
    plain.extend_from_slice(&expires_at.to_be_bytes());
    plain.extend_from_slice(&challenge);
    plain.extend_from_slice(inner);
    crypto::b64url(&key.seal(&plain, kind.aad()))
}

/// Opens a state of the given kind; anything else is [`PasskeyError::InvalidSession`].
pub(crate) fn open(key: &MasterKey, kind: Kind, sealed: &str) -> Result<Opened, PasskeyError> {
    let bytes = decode(sealed)?;
    let plain = key
        .open(&bytes, kind.aad())
        .map_err(|_| PasskeyError::InvalidSession)?;
    parse(&plain)
}

/// Opens a state of either kind (for [`super::Ceremonies::ceremony_id`]).
pub(crate) fn open_any(key: &MasterKey, sealed: &str) -> Result<(Kind, Opened), PasskeyError> {
    let bytes = decode(sealed)?;
    for kind in [Kind::Registration, Kind::Authentication] {
        if let Ok(plain) = key.open(&bytes, kind.aad()) {
            return Ok((kind, parse(&plain)?));
        }
    }
    Err(PasskeyError::InvalidSession)
}

/// Opens a state and refuses it once `now` is past its expiry.
pub(crate) fn open_current(
    key: &MasterKey,
    kind: Kind,
    sealed: &str,
    now: i64,
) -> Result<Opened, PasskeyError> {
    let opened = open(key, kind, sealed)?;
    if now > opened.expires_at {
        return Err(PasskeyError::InvalidSession);
    }
    Ok(opened)
}

/// Identifies a ceremony for single-use bookkeeping: the SHA-256 of its challenge, in hex.
pub(crate) fn ceremony_id(opened: &Opened) -> String {
    crypto::sha256_hex(&opened.challenge)
}

fn decode(sealed: &str) -> Result<Vec<u8>, PasskeyError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(PasskeyError::InvalidSession);
    }
    crypto::b64url_decode(sealed).map_err(|_| PasskeyError::InvalidSession)
}

fn parse(plain: &[u8]) -> Result<Opened, PasskeyError> {
    let (header, inner) = plain
        .split_at_checked(HEADER_LEN)
        .ok_or(PasskeyError::InvalidSession)?;
    let (version, rest) = header.split_first().ok_or(PasskeyError::InvalidSession)?;
    if *version != VERSION {
        return Err(PasskeyError::InvalidSession);
    }
    let (expiry, challenge) = rest.split_at(8);
    let expires_at = i64::from_be_bytes(
        expiry
            .try_into()
            .map_err(|_| PasskeyError::InvalidSession)?,
    );
    let challenge = challenge
        .try_into()
        .map_err(|_| PasskeyError::InvalidSession)?;
    Ok(Opened {
        challenge,
        expires_at,
        inner: inner.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[7u8; 32]).expect("32 bytes is a valid key")
    }

    #[test]
    fn round_trip_and_kind_separation() {
        let k = key();
        let sealed = seal(&k, Kind::Registration, [1; 16], 100, b"inner");
        let opened = open(&k, Kind::Registration, &sealed).expect("opens");
        assert_eq!(opened.challenge, [1; 16]);
        assert_eq!(opened.expires_at, 100);
        assert_eq!(opened.inner, b"inner");
        assert_eq!(
            open(&k, Kind::Authentication, &sealed).unwrap_err(),
            PasskeyError::InvalidSession
        );
        let (kind, _) = open_any(&k, &sealed).expect("opens as some kind");
        assert_eq!(kind, Kind::Registration);
    }

    #[test]
    fn expiry_is_inclusive() {
        let k = key();
        let sealed = seal(&k, Kind::Authentication, [2; 16], 100, b"");
        assert!(open_current(&k, Kind::Authentication, &sealed, 100).is_ok());
        assert_eq!(
            open_current(&k, Kind::Authentication, &sealed, 101).unwrap_err(),
            PasskeyError::InvalidSession
        );
    }

    #[test]
    fn junk_is_an_invalid_session() {
        let k = key();
        for junk in ["", "!!!", "AAAA", &"A".repeat(5000)] {
            assert_eq!(
                open(&k, Kind::Registration, junk).unwrap_err(),
                PasskeyError::InvalidSession
            );
        }
    }
}
