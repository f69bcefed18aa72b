//! Symmetric cryptography and small helpers built on `aws-lc-rs`.
//!
//! [`MasterKey`] derives, from one operator-supplied secret, an AES-256-GCM
//! key used to seal data at rest and an HMAC-SHA256 key used for MACs.
//! The remaining functions are thin, allocation-light wrappers for random
//! values, digests, base64url and constant-time comparison.

use std::fmt;

use aws_lc_rs::{aead, constant_time, digest, hkdf, hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Minimum length of the master key material, in bytes.
pub const MIN_MASTER_KEY_LEN: usize = 16;

/// Length of the random nonce prefixed to sealed data.
pub const NONCE_LEN: usize = aead::NONCE_LEN;

/// Length of the AES-GCM tag appended to sealed data.
pub const TAG_LEN: usize = 16;

const HKDF_SALT: &[u8] = b"latchkey";
const INFO_SEAL: &[u8] = b"latchkey/v1/seal/aes-256-gcm";
const INFO_MAC: &[u8] = b"latchkey/v1/mac/hmac-sha256";

/// Errors from this module. Messages never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The master key material is shorter than [`MIN_MASTER_KEY_LEN`].
    #[error("master key material must be at least {min} bytes long (got {got})")]
    KeyTooShort {
        /// Required minimum length.
        min: usize,
        /// Length that was supplied.
        got: usize,
    },
    /// Key derivation failed inside the crypto library.
    #[error("key derivation failed")]
    KeyDerivation,
    /// Sealed data could not be authenticated or decrypted (wrong key, wrong
    /// associated data, truncated or tampered input).
    #[error("sealed data could not be opened")]
    Open,
    /// Input is not valid unpadded base64url.
    #[error("invalid base64url encoding")]
    Base64,
}

/// Secret from which Latchkey's symmetric keys are derived.
pub struct MasterKey {
    seal_key: aead::LessSafeKey,
    mac_key: hmac::Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Derives the sealing and MAC keys from `material` with HKDF-SHA256
    /// (salt `"latchkey"`, one distinct info label per subkey).
    ///
    /// `material` must be at least [`MIN_MASTER_KEY_LEN`] bytes of
    /// high-entropy secret.
    pub fn from_bytes(material: &[u8]) -> Result<MasterKey, CryptoError> {
        if material.len() < MIN_MASTER_KEY_LEN {
            return Err(CryptoError::KeyTooShort {
                min: MIN_MASTER_KEY_LEN,
                got: material.len(),
            });
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(material);

        let seal_okm = prk
            .expand(&[INFO_SEAL], &aead::AES_256_GCM)
            .map_err(|_| CryptoError::KeyDerivation)?;
        let seal_key = aead::LessSafeKey::new(aead::UnboundKey::from(seal_okm));

        let mac_okm = prk
            .expand(&[INFO_MAC], hmac::HMAC_SHA256)
            .map_err(|_| CryptoError::KeyDerivation)?;
        let mac_key = hmac::Key::from(mac_okm);

        Ok(MasterKey { seal_key, mac_key })
    }

    /// Encrypts and authenticates `plaintext`, binding it to `aad`.
    ///
    /// Output layout: 12-byte random nonce || ciphertext || 16-byte tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(plaintext);
        let tag = self
            .seal_key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce_bytes),
                aead::Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            // Only fails for inputs beyond AES-GCM's ~64 GiB limit.
            .expect("AES-256-GCM seal failed");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Reverses [`MasterKey::seal`]. Any failure (wrong key, wrong `aad`,
    /// truncated or modified input) yields [`CryptoError::Open`].
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = ciphertext.to_vec();
        let plain_len = self
            .seal_key
            .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::Open)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }

    /// HMAC-SHA256 of `data` under the derived MAC key.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.mac_key, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Checks `tag` against the HMAC of `data`, in constant time.
    pub fn verify_mac(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.mac_key, data, tag).is_ok()
    }
}

/// `N` bytes from the system CSPRNG.
///
/// # Panics
/// Only if the operating system's random source fails, which is not
/// recoverable.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out).expect("system random number generator failed");
    out
}

/// 32 random bytes as unpadded base64url (43 characters).
pub fn random_token() -> String {
    b64url(&random_bytes::<32>())
}

/// SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-256 digest of `data` as 64 lowercase hex characters.
pub fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = sha256(data);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Unpadded base64url encoding (RFC 4648 §5).
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Strict unpadded base64url decoding: padding, characters outside the
/// URL-safe alphabet and non-canonical trailing bits are rejected.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| CryptoError::Base64)
}

/// Compares two byte strings in time independent of their contents (but not
/// of their lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MasterKey>();
    }

    #[test]
    fn from_bytes_length() {
        let err = MasterKey::from_bytes(&[7u8; 15]).unwrap_err();
        assert_eq!(err, CryptoError::KeyTooShort { min: 16, got: 15 });
        assert!(err.to_string().contains("at least 16 bytes"));
        assert!(MasterKey::from_bytes(&[7u8; 16]).is_ok());
        assert!(MasterKey::from_bytes(&[]).is_err());
    }

    #[test]
    fn debug_redacts() {
        let k = MasterKey::from_bytes(b"0123456789abcdef-secret").unwrap();
        let s = format!("{k:?}");
        assert_eq!(s, "MasterKey(<redacted>)");
    }

    #[test]
    fn seal_open_round_trip() {
        let k = key(1);
        for pt in [&b""[..], b"x", b"hello, latchkey", &[0xabu8; 1000][..]] {
            let sealed = k.seal(pt, b"aad");
            assert_eq!(sealed.len(), NONCE_LEN + pt.len() + TAG_LEN);
            assert_eq!(k.open(&sealed, b"aad").unwrap(), pt);
        }
        // Same input twice gives different output (random nonce).
        assert_ne!(k.seal(b"same", b""), k.seal(b"same", b""));
    }

    #[test]
    fn open_failures() {
        let k = key(1);
        let sealed = k.seal(b"secret payload", b"context-a");

        assert_eq!(k.open(&sealed, b"context-b"), Err(CryptoError::Open));
        assert_eq!(key(2).open(&sealed, b"context-a"), Err(CryptoError::Open));

        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(k.open(&t, b"context-a"), Err(CryptoError::Open), "byte {i}");
        }
        for len in 0..sealed.len() {
            assert_eq!(
                k.open(&sealed[..len], b"context-a"),
                Err(CryptoError::Open),
                "len {len}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(k.open(&longer, b"context-a"), Err(CryptoError::Open));
    }

    #[test]
    fn subkeys_differ_by_material() {
        // Keys derived from different material must not interoperate, and
        // the MAC must depend on the material.
        assert_ne!(key(1).mac(b"d"), key(2).mac(b"d"));
    }

    #[test]
    fn mac_verify() {
        let k = key(3);
        let tag = k.mac(b"data");
        assert_eq!(tag, k.mac(b"data"));
        assert!(k.verify_mac(b"data", &tag));
        assert!(!k.verify_mac(b"Data", &tag));
        assert!(!k.verify_mac(b"data", &tag[..31]));
        let mut bad = tag;
        bad[0] ^= 0x80;
        assert!(!k.verify_mac(b"data", &bad));
        assert!(!key(4).verify_mac(b"data", &tag));
        assert!(!k.verify_mac(b"data", &[]));
    }

    #[test]
    fn mac_matches_independent_hmac() {
        // The MAC key is HKDF-Expand(HKDF-Extract("latchkey", material), INFO_MAC, 32).
        // Recompute it through the raw HKDF/HMAC primitives to pin the derivation.
        let material = [9u8; 20];
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, HKDF_SALT), &material);
        let mut t1_input = INFO_MAC.to_vec();
        t1_input.push(1);
        let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &t1_input);
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, okm.as_ref()), b"msg");
        let k = MasterKey::from_bytes(&material).unwrap();
        assert_eq!(&k.mac(b"msg")[..], expected.as_ref());
    }

    #[test]
    fn random_values() {
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(b64url_decode(&t).unwrap().len(), 32);
        assert_ne!(random_token(), t);
        let empty: [u8; 0] = random_bytes();
        assert_eq!(empty.len(), 0);
    }

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256(b"abc")[0], 0xba);
    }

    #[test]
    fn base64url() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64url(b"hello"), "aGVsbG8");
        assert_eq!(b64url_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(b64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(b64url_decode("").unwrap(), b"");
        assert_eq!(b64url_decode("aGVsbG8="), Err(CryptoError::Base64));
        assert_eq!(b64url_decode("+/8"), Err(CryptoError::Base64));
        assert_eq!(b64url_decode("aGVs bG8"), Err(CryptoError::Base64));
        assert_eq!(b64url_decode("a"), Err(CryptoError::Base64));
        // Non-canonical trailing bits.
        assert_eq!(b64url_decode("-_9"), Err(CryptoError::Base64));
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
