//! JSON Web Signature (compact serialization) and JSON Web Keys, restricted
//! to the three algorithms Latchkey issues: RS256, ES256 and EdDSA (Ed25519).
//!
//! Keys are parsed once and kept in memory ([`SigningKey`], [`VerifyingKey`]);
//! signing and verification do not re-parse key material.
//!
//! `alg` names the algorithms; `jwk` reads and writes public JWKs (our JWKS,
//! and other providers' keys imported as [`VerifyingKey`]s); `jws` signs and
//! verifies compact tokens.

mod alg;
mod jwk;
mod jws;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use alg::{Alg, at_hash};
pub use jwk::{VerifyingKey, jwk_thumbprint};
pub use jws::{JwtHeader, SigningKey, decode_header, decode_own_jwt, verify_jwt};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Errors from JOSE processing. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Algorithm name is not one of RS256, ES256, EdDSA (this includes "none").
    #[error("unsupported JWS algorithm")]
    UnsupportedAlg,
    /// The crypto library failed to generate a key.
    #[error("key generation failed")]
    KeyGeneration,
    /// Key material was rejected by the crypto library.
    #[error("key rejected: {0}")]
    KeyRejected(&'static str),
    /// A JWK is structurally invalid or unsupported.
    #[error("invalid JWK: {0}")]
    InvalidJwk(&'static str),
    /// The crypto library failed to produce a signature.
    #[error("signing failed")]
    Signing,
    /// Claims or header could not be serialized.
    #[error("could not serialize JWT: {0}")]
    Serialize(String),
    /// Token is longer than [`MAX_TOKEN_LEN`].
    #[error("token exceeds {MAX_TOKEN_LEN} bytes")]
    TokenTooLarge,
    /// Token is not a well-formed JWS compact serialization.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Token header has no `kid`.
    #[error("token header has no kid")]
    MissingKid,
    /// No key is known for the token's `kid`.
    #[error("no key matches the token's kid")]
    UnknownKid,
    /// Header `alg` differs from the algorithm of the key selected by `kid`.
    #[error("token alg does not match the key's algorithm")]
    AlgMismatch,
    /// Signature verification failed.
    #[error("invalid token signature")]
    BadSignature,
}

impl From<aws_lc_rs::error::KeyRejected> for JoseError {
    fn from(e: aws_lc_rs::error::KeyRejected) -> Self {
        JoseError::KeyRejected(e.description_())
    }
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}
