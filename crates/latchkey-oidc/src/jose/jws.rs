//! Compact JWS: signing keys, signing, header decoding and verification.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jwk::{PublicParts, VerifyingKey};
use super::{Alg, JoseError, MAX_TOKEN_LEN};

/// Largest signature we produce or accept (RSA-8192).
pub(super) const MAX_SIG_LEN: usize = 1024;

/// Length of `n` bytes in unpadded base64.
pub(super) fn b64_len(n: usize) -> usize {
    n / 3 * 4 + [0, 2, 3][n % 3]
}

enum Signer {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// Stack buffer holding one signature.
pub(super) struct SigBuf {
    buf: [u8; MAX_SIG_LEN],
    len: usize,
}

impl SigBuf {
    fn from_slice(s: &[u8]) -> Result<Self, JoseError> {
        let mut buf = [0u8; MAX_SIG_LEN];
        buf.get_mut(..s.len())
            .ok_or(JoseError::Signing)?
            .copy_from_slice(s);
        Ok(SigBuf { buf, len: s.len() })
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A private signing key with its precomputed public JWK and kid.
pub struct SigningKey {
    alg: Alg,
    signer: Signer,
    jwk: Value,
    verifying: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'a str,
}

impl SigningKey {
    fn from_signer(alg: Alg, signer: Signer) -> Result<Self, JoseError> {
        let parts = match &signer {
            Signer::Rsa(kp) => {
                let pk = kp.public_key();
                PublicParts::Rsa {
                    n: pk.modulus().big_endian_without_leading_zero().to_vec(),
                    e: pk.exponent().big_endian_without_leading_zero().to_vec(),
                }
            }
            Signer::Ec(kp) => {
                let point = kp.public_key().as_ref();
                if point.len() != 65 || point[0] != 0x04 {
                    return Err(JoseError::KeyRejected("unexpected EC public key encoding"));
                }
                PublicParts::P256 {
                    x: point[1..33].to_vec(),
                    y: point[33..].to_vec(),
                }
            }
            Signer::Ed(kp) => PublicParts::Ed25519 {
                x: kp.public_key().as_ref().to_vec(),
            },
        };
        debug_assert_eq!(parts.alg(), alg);
        let kid: Arc<str> = parts.thumbprint().into();
        let jwk = parts.to_jwk(&kid);
        let verifying = VerifyingKey::from_parts(kid, &parts)?;
        Ok(SigningKey {
            alg,
            signer,
            jwk,
            verifying,
        })
    }

    /// Generates a fresh key: RSA-2048 for RS256, P-256 for ES256, Ed25519
    /// for EdDSA. The kid is the RFC 7638 thumbprint of the public key.
    pub fn generate(alg: Alg) -> Result<Self, JoseError> {
        let signer = match alg {
            Alg::RS256 => Signer::Rsa(
                rsa::KeyPair::generate(rsa::KeySize::Rsa2048)
                    .map_err(|_| JoseError::KeyGeneration)?,
            ),
            Alg::ES256 => Signer::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| JoseError::KeyGeneration)?,
            ),
            Alg::EdDSA => {
                Signer::Ed(Ed25519KeyPair::generate().map_err(|_| JoseError::KeyGeneration)?)
            }
        };
        Self::from_signer(alg, signer)
    }

    /// Loads an unencrypted PKCS#8 DER private key of the type `alg`
    /// requires (RSA 2048–8192 bit, P-256, Ed25519). The kid is recomputed
    /// as the RFC 7638 thumbprint.
    pub fn from_pkcs8(alg: Alg, der: &[u8]) -> Result<Self, JoseError> {
        let signer = match alg {
            Alg::RS256 => Signer::Rsa(rsa::KeyPair::from_pkcs8(der)?),
            Alg::ES256 => Signer::Ec(EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
            )?),
            Alg::EdDSA => Signer::Ed(Ed25519KeyPair::from_pkcs8(der)?),
        };
        Self::from_signer(alg, signer)
    }

    /// Serializes the private key as PKCS#8 v1 DER. The result is secret.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JoseError> {
        let err = |_| JoseError::KeyRejected("PKCS#8 serialization failed");
        Ok(match &self.signer {
            Signer::Rsa(kp) => kp.as_der().map_err(err)?.as_ref().to_vec(),
            Signer::Ec(kp) => kp.to_pkcs8v1().map_err(err)?.as_ref().to_vec(),
            Signer::Ed(kp) => kp.to_pkcs8v1().map_err(err)?.as_ref().to_vec(),
        })
    }

    /// Key identifier (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        self.verifying.kid()
    }

    /// Signing algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Public JWK: `kty`, key members, `kid`, `alg`, `use: "sig"`.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// Verifying key for this key's public half (cheap clone).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying.clone()
    }

    pub(super) fn signature_len(&self) -> usize {
        match &self.signer {
            Signer::Rsa(kp) => kp.public_modulus_len(),
            Signer::Ec(_) | Signer::Ed(_) => 64,
        }
    }

    pub(super) fn sign_raw(&self, msg: &[u8]) -> Result<SigBuf, JoseError> {
        match &self.signer {
            Signer::Rsa(kp) => {
                let len = kp.public_modulus_len();
                let mut sig = SigBuf {
                    buf: [0u8; MAX_SIG_LEN],
                    len,
                };
                let out = sig.buf.get_mut(..len).ok_or(JoseError::Signing)?;
                kp.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, out)
                    .map_err(|_| JoseError::Signing)?;
                Ok(sig)
            }
            Signer::Ec(kp) => {
                let s = kp
                    .sign(&SystemRandom::new(), msg)
                    .map_err(|_| JoseError::Signing)?;
                SigBuf::from_slice(s.as_ref())
            }
            Signer::Ed(kp) => {
                let s = kp.try_sign(msg).map_err(|_| JoseError::Signing)?;
                SigBuf::from_slice(s.as_ref())
            }
        }
    }

    /// Signs `claims` (which must serialize to a JSON object) as a compact
    /// JWS with header `{"alg":…,"kid":…,"typ":typ}`.
    pub fn sign_jwt(&self, typ: &str, claims: &impl Serialize) -> Result<String, JoseError> {
        let mut json = Vec::with_capacity(512);
        let header = HeaderOut {
            alg: self.alg.as_str(),
            kid: self.kid(),
            typ,
        };
        serde_json::to_writer(&mut json, &header)
            .map_err(|e| JoseError::Serialize(e.to_string()))?;
        let header_len = json.len();
        serde_json::to_writer(&mut json, claims)
            .map_err(|e| JoseError::Serialize(e.to_string()))?;
        let (h, p) = json.split_at(header_len);
        if p.first() != Some(&b'{') {
            return Err(JoseError::Serialize(
                "claims must serialize to a JSON object".into(),
            ));
        }

        let cap = b64_len(h.len()) + 1 + b64_len(p.len()) + 1 + b64_len(self.signature_len());
        let mut out = String::with_capacity(cap);
        URL_SAFE_NO_PAD.encode_string(h, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(p, &mut out);
        let sig = self.sign_raw(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_slice(), &mut out);
        Ok(out)
    }
}

/// The protected header of a JWS, as far as Latchkey cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtHeader {
    /// `alg` exactly as written in the token (not validated by
    /// [`decode_header`]).
    pub alg: String,
    /// Key identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Media type, e.g. `"JWT"` or `"at+jwt"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

struct Parts<'t> {
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
    signing_input: &'t str,
}

fn split_token(token: &str) -> Result<Parts<'_>, JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::TokenTooLarge);
    }
    const PARTS: &str = "expected three dot-separated parts";
    let d1 = token.find('.').ok_or(JoseError::Malformed(PARTS))?;
    let d2 = d1
        + 1
        + token[d1 + 1..]
            .find('.')
            .ok_or(JoseError::Malformed(PARTS))?;
    let signature = &token[d2 + 1..];
    if signature.contains('.') {
        return Err(JoseError::Malformed(PARTS));
    }
    Ok(Parts {
        header: &token[..d1],
        payload: &token[d1 + 1..d2],
        signature,
        signing_input: &token[..d2],
    })
}

/// Decodes base64url `part` into `buf` (cleared first).
fn decode_into(part: &str, buf: &mut Vec<u8>, what: &'static str) -> Result<(), JoseError> {
    buf.clear();
    URL_SAFE_NO_PAD
        .decode_vec(part, buf)
        .map_err(|_| JoseError::Malformed(what))
}

fn is_json_object(json: &[u8]) -> bool {
    json.trim_ascii_start().first() == Some(&b'{')
}

fn parse_header(part: &str, buf: &mut Vec<u8>) -> Result<JwtHeader, JoseError> {
    decode_into(part, buf, "header is not base64url")?;
    if !is_json_object(buf) {
        return Err(JoseError::Malformed("header is not a JSON object"));
    }
    let raw: RawHeader = serde_json::from_slice(buf)
        .map_err(|_| JoseError::Malformed("header is not a valid JOSE header"))?;
    if raw.crit.is_some() {
        return Err(JoseError::Malformed(
            "critical header extensions are not supported",
        ));
    }
    Ok(JwtHeader {
        alg: raw.alg,
        kid: raw.kid,
        typ: raw.typ,
    })
}

/// Decodes the header of a compact JWS without verifying anything else.
pub fn decode_header(token: &str) -> Result<JwtHeader, JoseError> {
    let parts = split_token(token)?;
    parse_header(parts.header, &mut Vec::new())
}

/// Verifies a compact JWS and returns its header and JSON object payload.
///
/// Requires: at most [`MAX_TOKEN_LEN`] bytes, exactly three parts, a `kid`
/// for which `find_key` returns a key, header `alg` equal to that key's
/// algorithm, no `crit` header, a valid signature, and a JSON object payload.
/// Does not check `exp`, `aud`, `iss` or any other claim.
pub fn verify_jwt<'a>(
    token: &str,
    find_key: impl Fn(&str) -> Option<&'a VerifyingKey>,
) -> Result<(JwtHeader, Map<String, Value>), JoseError> {
    let parts = split_token(token)?;
    let mut buf = Vec::with_capacity(parts.payload.len() / 4 * 3 + 3);
    let header = parse_header(parts.header, &mut buf)?;

    let kid = header.kid.as_deref().ok_or(JoseError::MissingKid)?;
    let key = find_key(kid).ok_or(JoseError::UnknownKid)?;
    if header.alg != key.alg().as_str() {
        return Err(JoseError::AlgMismatch);
    }

    let mut sig = [0u8; MAX_SIG_LEN];
    if parts.signature.len() > b64_len(MAX_SIG_LEN) {
        return Err(JoseError::BadSignature);
    }
    let sig_len = URL_SAFE_NO_PAD
        .decode_slice(parts.signature, &mut sig)
        .map_err(|_| JoseError::Malformed("signature is not base64url"))?;
    if !key.verify(parts.signing_input.as_bytes(), &sig[..sig_len]) {
        return Err(JoseError::BadSignature);
    }

    Ok((header, decode_payload(parts.payload, &mut buf)?))
}

/// Decodes a compact JWS WITHOUT checking its signature: only for a token whose exact bytes
/// this process signed itself (see `crate::minted`), where verifying again would prove
/// nothing. Everything else is parsed as by [`verify_jwt`].
pub fn decode_own_jwt(token: &str) -> Result<(JwtHeader, Map<String, Value>), JoseError> {
    let parts = split_token(token)?;
    let mut buf = Vec::with_capacity(parts.payload.len() / 4 * 3 + 3);
    let header = parse_header(parts.header, &mut buf)?;
    Ok((header, decode_payload(parts.payload, &mut buf)?))
}

fn decode_payload(payload: &str, buf: &mut Vec<u8>) -> Result<Map<String, Value>, JoseError> {
    decode_into(payload, buf, "payload is not base64url")?;
    if !is_json_object(buf) {
        return Err(JoseError::Malformed("payload is not a JSON object"));
    }
    serde_json::from_slice(buf).map_err(|_| JoseError::Malformed("payload is not a JSON object"))
}
