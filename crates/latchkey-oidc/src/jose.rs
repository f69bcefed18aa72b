//! JSON Web Signature (compact serialization) and JSON Web Keys, restricted
//! to the three algorithms Latchkey issues: RS256, ES256 and EdDSA (Ed25519).
//!
//! Keys are parsed once and kept in memory ([`SigningKey`], [`VerifyingKey`]);
//! signing and verification do not re-parse key material.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaPublicKeyComponents,
};
use aws_lc_rs::{digest, rsa};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Largest signature we produce or accept (RSA-8192).
const MAX_SIG_LEN: usize = 1024;

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// JWK members that only appear in private keys.
const PRIVATE_JWK_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

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

/// JWS signature algorithms supported by Latchkey.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256 (fixed-width r||s signature).
    ES256,
    /// EdDSA over Ed25519.
    EdDSA,
}

impl Alg {
    /// Every supported algorithm.
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    /// The JOSE name (`"RS256"`, `"ES256"`, `"EdDSA"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = JoseError;

    /// Exact, case-sensitive names only; `"none"` and everything else fail.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            "EdDSA" => Ok(Alg::EdDSA),
            _ => Err(JoseError::UnsupportedAlg),
        }
    }
}

/// Raw public key components, as they appear (decoded) in a JWK.
enum PublicParts {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256 affine coordinates, 32 bytes each.
    P256 { x: Vec<u8>, y: Vec<u8> },
    /// Ed25519 public key, 32 bytes.
    Ed25519 { x: Vec<u8> },
}

impl PublicParts {
    fn alg(&self) -> Alg {
        match self {
            PublicParts::Rsa { .. } => Alg::RS256,
            PublicParts::P256 { .. } => Alg::ES256,
            PublicParts::Ed25519 { .. } => Alg::EdDSA,
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in
    /// lexicographic order, no whitespace, base64url.
    fn thumbprint(&self) -> String {
        let canonical = match self {
            PublicParts::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            PublicParts::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64(x),
                b64(y)
            ),
            PublicParts::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x))
            }
        };
        b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// Public JWK with `kid`, `alg` and `use`.
    fn to_jwk(&self, kid: &str) -> Value {
        let mut m = Map::new();
        match self {
            PublicParts::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(n).into());
                m.insert("e".into(), b64(e).into());
            }
            PublicParts::P256 { x, y } => {
                m.insert("kty".into(), "EC".into());
                m.insert("crv".into(), "P-256".into());
                m.insert("x".into(), b64(x).into());
                m.insert("y".into(), b64(y).into());
            }
            PublicParts::Ed25519 { x } => {
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), b64(x).into());
            }
        }
        m.insert("kid".into(), kid.into());
        m.insert("alg".into(), self.alg().as_str().into());
        m.insert("use".into(), "sig".into());
        Value::Object(m)
    }

    /// Parses into a verification key; the key is validated here, once.
    fn parse(&self) -> Result<ParsedPublicKey, JoseError> {
        Ok(match self {
            PublicParts::Rsa { n, e } => {
                let bits = bit_len(n);
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(JoseError::InvalidJwk("RSA modulus size not supported"));
                }
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)?
            }
            PublicParts::P256 { x, y } => {
                let mut point = [0u8; 65];
                point[0] = 0x04;
                point[1..33].copy_from_slice(x);
                point[33..].copy_from_slice(y);
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point[..])
                    .parse()?
            }
            PublicParts::Ed25519 { x } => {
                signature::UnparsedPublicKey::new(&signature::ED25519, &x[..]).parse()?
            }
        })
    }

    /// Reads the key-type specific members of a JWK (structure only).
    fn from_jwk(obj: &Map<String, Value>) -> Result<Self, JoseError> {
        match jwk_str(obj, "kty")? {
            "RSA" => {
                let n = jwk_b64(obj, "n")?;
                let e = jwk_b64(obj, "e")?;
                if n.first().is_none_or(|&b| b == 0) || e.first().is_none_or(|&b| b == 0) {
                    return Err(JoseError::InvalidJwk(
                        "RSA n and e must be non-empty without leading zeros",
                    ));
                }
                Ok(PublicParts::Rsa { n, e })
            }
            "EC" => {
                if jwk_str(obj, "crv")? != "P-256" {
                    return Err(JoseError::InvalidJwk("unsupported EC curve"));
                }
                let x = jwk_b64(obj, "x")?;
                let y = jwk_b64(obj, "y")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(JoseError::InvalidJwk("P-256 coordinates must be 32 bytes"));
                }
                Ok(PublicParts::P256 { x, y })
            }
            "OKP" => {
                if jwk_str(obj, "crv")? != "Ed25519" {
                    return Err(JoseError::InvalidJwk("unsupported OKP curve"));
                }
                let x = jwk_b64(obj, "x")?;
                if x.len() != 32 {
                    return Err(JoseError::InvalidJwk("Ed25519 key must be 32 bytes"));
                }
                Ok(PublicParts::Ed25519 { x })
            }
            _ => Err(JoseError::InvalidJwk("unsupported kty")),
        }
    }
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn b64_len(n: usize) -> usize {
    n / 3 * 4 + [0, 2, 3][n % 3]
}

fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        None => 0,
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
    }
}

fn jwk_str<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JoseError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(JoseError::InvalidJwk("member has the wrong type")),
        None => Err(JoseError::InvalidJwk("required member missing")),
    }
}

fn jwk_b64(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(jwk_str(obj, name)?)
        .map_err(|_| JoseError::InvalidJwk("member is not base64url"))
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of a public RSA, EC P-256
/// or OKP Ed25519 JWK. Only the required members are hashed; `kid`, `alg`
/// and other members are ignored.
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, JoseError> {
    let obj = jwk
        .as_object()
        .ok_or(JoseError::InvalidJwk("not a JSON object"))?;
    Ok(PublicParts::from_jwk(obj)?.thumbprint())
}

/// A public key able to verify JWS signatures, selected by `kid`.
///
/// Cloning is cheap (reference counted).
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Arc<str>,
    alg: Alg,
    key: Arc<ParsedPublicKey>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &&*self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    fn from_parts(kid: Arc<str>, parts: &PublicParts) -> Result<Self, JoseError> {
        Ok(VerifyingKey {
            kid,
            alg: parts.alg(),
            key: Arc::new(parts.parse()?),
        })
    }

    /// Builds a verifying key from a public JWK (e.g. one entry of a JWKS).
    ///
    /// Accepts RSA (2048–8192 bit), EC P-256 and OKP Ed25519 keys. The
    /// algorithm follows from the key type (RS256, ES256, EdDSA); an `alg`
    /// member, if present, must agree. `use`, if present, must be `"sig"`.
    /// JWKs carrying private members are rejected. A missing `kid` defaults to
    /// the RFC 7638 thumbprint.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JoseError> {
        let obj = jwk
            .as_object()
            .ok_or(JoseError::InvalidJwk("not a JSON object"))?;
        if PRIVATE_JWK_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(JoseError::InvalidJwk("contains private key members"));
        }
        if obj.get("use").is_some_and(|u| u != "sig") {
            return Err(JoseError::InvalidJwk("use is not \"sig\""));
        }
        let parts = PublicParts::from_jwk(obj)?;
        if obj.contains_key("alg") {
            let declared: Alg = jwk_str(obj, "alg")?.parse()?;
            if declared != parts.alg() {
                return Err(JoseError::InvalidJwk("alg does not match the key type"));
            }
        }
        let kid: Arc<str> = match obj.get("kid") {
            None => parts.thumbprint().into(),
            Some(Value::String(s)) if !s.is_empty() => s.as_str().into(),
            Some(_) => return Err(JoseError::InvalidJwk("kid must be a non-empty string")),
        };
        Self::from_parts(kid, &parts)
    }

    /// Key identifier.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The only algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Verifies `sig` over `signing_input` (`b64(header).b64(payload)`).
    pub fn verify(&self, signing_input: &[u8], sig: &[u8]) -> bool {
        self.key.verify_sig(signing_input, sig).is_ok()
    }
}

enum Signer {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// Stack buffer holding one signature.
struct SigBuf {
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

    fn as_slice(&self) -> &[u8] {
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

    fn signature_len(&self) -> usize {
        match &self.signer {
            Signer::Rsa(kp) => kp.public_modulus_len(),
            Signer::Ec(_) | Signer::Ed(_) => 64,
        }
    }

    fn sign_raw(&self, msg: &[u8]) -> Result<SigBuf, JoseError> {
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

    decode_into(parts.payload, &mut buf, "payload is not base64url")?;
    if !is_json_object(&buf) {
        return Err(JoseError::Malformed("payload is not a JSON object"));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&buf)
        .map_err(|_| JoseError::Malformed("payload is not a JSON object"))?;
    Ok((header, claims))
}

/// OIDC `at_hash` / `c_hash`: base64url of the left half of the hash of the
/// ASCII `token`, using SHA-256 for RS256/ES256 and SHA-512 for EdDSA
/// (Ed25519).
pub fn at_hash(alg: Alg, token: &str) -> String {
    let algorithm = match alg {
        Alg::RS256 | Alg::ES256 => &digest::SHA256,
        Alg::EdDSA => &digest::SHA512,
    };
    let d = digest::digest(algorithm, token.as_bytes());
    let d = d.as_ref();
    b64(&d[..d.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::OnceLock;

    /// RSA generation is slow; share one key per algorithm across tests.
    fn key(alg: Alg) -> &'static SigningKey {
        static KEYS: OnceLock<[SigningKey; 3]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| Alg::ALL.map(|a| SigningKey::generate(a).unwrap()));
        &keys[Alg::ALL.iter().position(|a| *a == alg).unwrap()]
    }

    fn claims() -> Value {
        json!({"iss": "https://sso.example", "sub": "alice", "n": 1, "nested": {"a": [1, 2]}})
    }

    fn verify_with(
        token: &str,
        key: &VerifyingKey,
    ) -> Result<(JwtHeader, Map<String, Value>), JoseError> {
        verify_jwt(token, |kid| (kid == key.kid()).then_some(key))
    }

    /// Rebuilds a token from raw header JSON, payload JSON and signature bytes.
    fn assemble(header: &str, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(sig)
        )
    }

    fn split3(token: &str) -> (String, String, Vec<u8>) {
        let p: Vec<&str> = token.split('.').collect();
        assert_eq!(p.len(), 3);
        let h = String::from_utf8(URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
        let c = String::from_utf8(URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
        (h, c, URL_SAFE_NO_PAD.decode(p[2]).unwrap())
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SigningKey>();
        assert_send_sync::<VerifyingKey>();
        assert_send_sync::<JoseError>();
    }

    #[test]
    fn alg_names() {
        for alg in Alg::ALL {
            assert_eq!(alg.as_str().parse::<Alg>().unwrap(), alg);
            assert_eq!(alg.to_string(), alg.as_str());
            assert_eq!(
                serde_json::to_value(alg).unwrap(),
                Value::String(alg.as_str().into())
            );
            assert_eq!(
                serde_json::from_value::<Alg>(Value::String(alg.as_str().into())).unwrap(),
                alg
            );
        }
        for bad in [
            "none", "None", "rs256", "HS256", "PS256", "ES384", "Ed25519", "", " RS256",
        ] {
            assert_eq!(bad.parse::<Alg>(), Err(JoseError::UnsupportedAlg), "{bad}");
        }
    }

    #[test]
    fn sign_verify_each_alg() {
        for alg in Alg::ALL {
            let k = key(alg);
            assert_eq!(k.alg(), alg);
            let token = k.sign_jwt("at+jwt", &claims()).unwrap();
            let vk = k.verifying_key();
            assert_eq!(vk.kid(), k.kid());
            assert_eq!(vk.alg(), alg);
            let (header, payload) = verify_with(&token, &vk).unwrap();
            assert_eq!(header.alg, alg.as_str());
            assert_eq!(header.kid.as_deref(), Some(k.kid()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(Value::Object(payload), claims());
            assert_eq!(decode_header(&token).unwrap(), header);

            // Exact header bytes and member order.
            let (h, _, sig) = split3(&token);
            assert_eq!(
                h,
                format!(
                    r#"{{"alg":"{}","kid":"{}","typ":"at+jwt"}}"#,
                    alg.as_str(),
                    k.kid()
                )
            );
            assert_eq!(sig.len(), k.signature_len());
            assert_eq!(sig.len(), if alg == Alg::RS256 { 256 } else { 64 });
        }
    }

    #[test]
    fn typ_is_escaped() {
        let k = key(Alg::EdDSA);
        let token = k.sign_jwt("a\"b\\c", &claims()).unwrap();
        let (header, _) = verify_with(&token, &k.verifying_key()).unwrap();
        assert_eq!(header.typ.as_deref(), Some("a\"b\\c"));
    }

    #[test]
    fn claims_must_be_object() {
        let k = key(Alg::EdDSA);
        assert!(matches!(
            k.sign_jwt("JWT", &json!([1, 2])),
            Err(JoseError::Serialize(_))
        ));
        assert!(matches!(
            k.sign_jwt("JWT", &"str"),
            Err(JoseError::Serialize(_))
        ));
    }

    #[test]
    fn pkcs8_round_trip() {
        for alg in Alg::ALL {
            let k = key(alg);
            let der = k.to_pkcs8().unwrap();
            let k2 = SigningKey::from_pkcs8(alg, &der).unwrap();
            assert_eq!(k2.kid(), k.kid());
            assert_eq!(k2.alg(), alg);
            assert_eq!(k2.public_jwk(), k.public_jwk());
            assert_eq!(k2.to_pkcs8().unwrap(), der);

            let old = k.sign_jwt("JWT", &claims()).unwrap();
            verify_with(&old, &k2.verifying_key()).unwrap();
            let new = k2.sign_jwt("JWT", &claims()).unwrap();
            verify_with(&new, &k.verifying_key()).unwrap();

            // Wrong algorithm for the key type.
            for other in Alg::ALL.into_iter().filter(|a| *a != alg) {
                assert!(SigningKey::from_pkcs8(other, &der).is_err());
            }
            assert!(SigningKey::from_pkcs8(alg, &der[..der.len() - 1]).is_err());
            assert!(SigningKey::from_pkcs8(alg, b"").is_err());
        }
    }

    #[test]
    fn public_jwk_shape() {
        for alg in Alg::ALL {
            let k = key(alg);
            let jwk = k.public_jwk().as_object().unwrap();
            assert_eq!(jwk["kid"], k.kid());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            for m in PRIVATE_JWK_MEMBERS {
                assert!(!jwk.contains_key(m));
            }
            let member = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
            match alg {
                Alg::RS256 => {
                    assert_eq!(jwk["kty"], "RSA");
                    assert_eq!(jwk.len(), 6);
                    let n = member("n");
                    assert_eq!(n.len(), 256);
                    assert_ne!(n[0], 0);
                    assert_eq!(jwk["e"], "AQAB");
                }
                Alg::ES256 => {
                    assert_eq!(jwk["kty"], "EC");
                    assert_eq!(jwk["crv"], "P-256");
                    assert_eq!(jwk.len(), 7);
                    assert_eq!(member("x").len(), 32);
                    assert_eq!(member("y").len(), 32);
                }
                Alg::EdDSA => {
                    assert_eq!(jwk["kty"], "OKP");
                    assert_eq!(jwk["crv"], "Ed25519");
                    assert_eq!(jwk.len(), 6);
                    assert_eq!(member("x").len(), 32);
                }
            }
            assert_eq!(jwk_thumbprint(k.public_jwk()).unwrap(), k.kid());
            assert_eq!(k.kid().len(), 43);
        }
    }

    #[test]
    fn from_jwk_verifies() {
        for alg in Alg::ALL {
            let k = key(alg);
            // Through a JSON round trip, as a client reading the JWKS would.
            let published: Value =
                serde_json::from_str(&serde_json::to_string(k.public_jwk()).unwrap()).unwrap();
            let vk = VerifyingKey::from_jwk(&published).unwrap();
            assert_eq!(vk.kid(), k.kid());
            assert_eq!(vk.alg(), alg);
            let token = k.sign_jwt("JWT", &claims()).unwrap();
            verify_with(&token, &vk).unwrap();

            // kid defaults to the thumbprint; alg is optional.
            let mut bare = published.clone();
            bare.as_object_mut().unwrap().remove("kid");
            bare.as_object_mut().unwrap().remove("alg");
            bare.as_object_mut().unwrap().remove("use");
            assert_eq!(VerifyingKey::from_jwk(&bare).unwrap().kid(), k.kid());

            // Inconsistent or unsafe JWKs.
            let with = |name: &str, v: Value| {
                let mut j = published.clone();
                j.as_object_mut().unwrap().insert(name.into(), v);
                VerifyingKey::from_jwk(&j)
            };
            assert!(with("alg", json!("none")).is_err());
            assert!(with("alg", json!("HS256")).is_err());
            for other in Alg::ALL.into_iter().filter(|a| *a != alg) {
                assert!(with("alg", json!(other.as_str())).is_err());
            }
            assert!(with("use", json!("enc")).is_err());
            assert!(with("d", json!("AAAA")).is_err());
            assert!(with("kid", json!(7)).is_err());
            assert!(with("kid", json!("")).is_err());
            let key_member = if alg == Alg::RS256 { "n" } else { "x" };
            assert!(with(key_member, json!("not base64!")).is_err());
            assert!(with(key_member, json!("AAAA")).is_err());
            assert!(with("kty", json!("oct")).is_err());
        }
        assert!(VerifyingKey::from_jwk(&json!("RSA")).is_err());
        assert!(VerifyingKey::from_jwk(&json!({})).is_err());
        // EC point not on the curve.
        let bad_point = json!({"kty":"EC","crv":"P-256","x":b64(&[1u8;32]),"y":b64(&[2u8;32])});
        assert!(VerifyingKey::from_jwk(&bad_point).is_err());
        // Too-small RSA modulus.
        let small = json!({"kty":"RSA","n":b64(&[0xc3u8; 128]),"e":"AQAB"});
        assert!(VerifyingKey::from_jwk(&small).is_err());
        // Leading zero in n.
        let mut n = vec![0u8];
        n.extend_from_slice(&[0xc3u8; 256]);
        let padded = json!({"kty":"RSA","n":b64(&n),"e":"AQAB"});
        assert!(VerifyingKey::from_jwk(&padded).is_err());
    }

    #[test]
    fn tampering_is_rejected() {
        for alg in Alg::ALL {
            let k = key(alg);
            let vk = k.verifying_key();
            let token = k.sign_jwt("JWT", &claims()).unwrap();
            let (h, c, sig) = split3(&token);
            assert_eq!(assemble(&h, &c, &sig), token);

            // Payload changed.
            let forged = assemble(&h, &c.replace("alice", "mallory"), &sig);
            assert_eq!(verify_with(&forged, &vk), Err(JoseError::BadSignature));

            // Signature changed, every byte position tried for ES/Ed.
            let step = if alg == Alg::RS256 { 37 } else { 1 };
            for i in (0..sig.len()).step_by(step) {
                let mut s = sig.clone();
                s[i] ^= 0x01;
                assert_eq!(
                    verify_with(&assemble(&h, &c, &s), &vk),
                    Err(JoseError::BadSignature)
                );
            }
            assert_eq!(
                verify_with(&assemble(&h, &c, &sig[..sig.len() - 1]), &vk),
                Err(JoseError::BadSignature)
            );
            let mut longer = sig.clone();
            longer.push(0);
            assert_eq!(
                verify_with(&assemble(&h, &c, &longer), &vk),
                Err(JoseError::BadSignature)
            );

            // alg: none, with and without the original signature.
            let none = h.replace(alg.as_str(), "none");
            assert_eq!(
                verify_with(&assemble(&none, &c, &sig), &vk),
                Err(JoseError::AlgMismatch)
            );
            assert_eq!(
                verify_with(&assemble(&none, &c, b""), &vk),
                Err(JoseError::AlgMismatch)
            );
            // Other algorithms, supported or not.
            for other in ["RS256", "ES256", "EdDSA", "HS256", "PS256"] {
                if other == alg.as_str() {
                    continue;
                }
                let h2 = h.replace(alg.as_str(), other);
                assert_eq!(
                    verify_with(&assemble(&h2, &c, &sig), &vk),
                    Err(JoseError::AlgMismatch)
                );
            }

            // Unknown kid, missing kid.
            assert_eq!(
                verify_jwt(&token, |_| None::<&VerifyingKey>),
                Err(JoseError::UnknownKid)
            );
            let h_nokid = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, alg.as_str());
            assert_eq!(
                verify_jwt(&assemble(&h_nokid, &c, &sig), |_| Some(&vk)),
                Err(JoseError::MissingKid)
            );

            // A kid resolving to a different key of the same alg.
            let other = SigningKey::generate(alg).unwrap().verifying_key();
            assert_eq!(
                verify_jwt(&token, |_| Some(&other)),
                Err(JoseError::BadSignature)
            );

            // Part count.
            let parts: Vec<&str> = token.split('.').collect();
            assert!(verify_with(&format!("{}.{}", parts[0], parts[1]), &vk).is_err());
            assert!(verify_with(&format!("{token}.{}", parts[2]), &vk).is_err());
            assert!(verify_with(&format!("{token}."), &vk).is_err());
            assert!(verify_with(parts[0], &vk).is_err());

            // Every strict prefix fails.
            for end in 0..token.len() {
                assert!(verify_with(&token[..end], &vk).is_err(), "prefix {end}");
            }

            // Padding or non-URL-safe base64 in any part.
            for (i, _) in parts.iter().enumerate() {
                for bad in ["=", "+", "/", "!", " "] {
                    let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
                    p[i].push_str(bad);
                    assert!(verify_with(&p.join("."), &vk).is_err(), "part {i} {bad:?}");
                }
            }
        }
    }

    #[test]
    fn malformed_headers_and_payloads() {
        let k = key(Alg::ES256);
        let vk = k.verifying_key();
        let hdr = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, k.kid());
        let sign = |h: &str, p: &str| {
            let input = format!("{}.{}", b64(h.as_bytes()), b64(p.as_bytes()));
            let sig = k.sign_raw(input.as_bytes()).unwrap();
            format!("{input}.{}", b64(sig.as_slice()))
        };
        // Sanity: the helper makes valid tokens.
        verify_with(&sign(&hdr, r#"{"a":1}"#), &vk).unwrap();

        for payload in [
            r#"[1]"#,
            r#""x""#,
            "1",
            "null",
            "",
            "{",
            r#"{"a":1}x"#,
            "\u{0}",
        ] {
            assert!(
                matches!(
                    verify_with(&sign(&hdr, payload), &vk),
                    Err(JoseError::Malformed(_))
                ),
                "{payload:?}"
            );
        }
        let crit = format!(
            r#"{{"alg":"ES256","kid":"{}","crit":["exp"],"exp":1}}"#,
            k.kid()
        );
        assert!(matches!(
            verify_with(&sign(&crit, "{}"), &vk),
            Err(JoseError::Malformed(_))
        ));
        let array = format!(r#"["ES256","{}",null]"#, k.kid());
        assert!(matches!(
            verify_with(&sign(&array, "{}"), &vk),
            Err(JoseError::Malformed(_))
        ));
        let dup = format!(r#"{{"alg":"ES256","alg":"none","kid":"{}"}}"#, k.kid());
        assert!(verify_with(&sign(&dup, "{}"), &vk).is_err());
        let wrong_type = format!(r#"{{"alg":"ES256","kid":{}}}"#, 5);
        assert!(verify_with(&sign(&wrong_type, "{}"), &vk).is_err());
        assert!(verify_with(&sign("{}", "{}"), &vk).is_err());
        assert!(verify_with(&sign("", "{}"), &vk).is_err());
    }

    #[test]
    fn garbage_and_oversized() {
        let k = key(Alg::EdDSA);
        let vk = k.verifying_key();
        let any = |_: &str| Some(&vk);
        for t in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "e30.e30.",
            "e30.e30.e30",
            "!!.??.##",
            "é.é.é",
            "eyJhbGciOiJFZERTQSJ9..",
            "\u{0}.\u{0}.\u{0}",
        ] {
            assert!(verify_jwt(t, any).is_err(), "{t:?}");
            assert!(verify_with(t, &vk).is_err(), "{t:?}");
        }
        assert!(decode_header("x").is_err());
        assert!(decode_header("!.a.b").is_err());

        let big = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(verify_jwt(&big, any), Err(JoseError::TokenTooLarge));
        assert_eq!(decode_header(&big), Err(JoseError::TokenTooLarge));

        // A validly signed token that is too large.
        let pad = "x".repeat(MAX_TOKEN_LEN);
        let token = k.sign_jwt("JWT", &json!({ "pad": pad })).unwrap();
        assert_eq!(verify_with(&token, &vk), Err(JoseError::TokenTooLarge));

        // Oversized signature part (still under the token limit).
        let token = k.sign_jwt("JWT", &claims()).unwrap();
        let long_sig = format!("{token}{}", "A".repeat(2000));
        assert!(verify_with(&long_sig, &vk).is_err());

        // Pseudo-random byte soup, including '.', never panics.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (state % 200) as usize;
            let mut s = String::new();
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let c = b"ABCxyz09-_.=+/{}\"e"[(state % 18) as usize];
                s.push(char::from(c));
            }
            let _ = verify_jwt(&s, any);
            let _ = decode_header(&s);
            state = state.wrapping_add(1);
        }
    }

    #[test]
    fn rfc7638_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // The same key imported without a kid gets the thumbprint as kid.
        let mut bare = jwk.clone();
        bare.as_object_mut().unwrap().remove("kid");
        assert_eq!(
            VerifyingKey::from_jwk(&bare).unwrap().kid(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(VerifyingKey::from_jwk(&jwk).unwrap().kid(), "2011-04-29");
    }

    #[test]
    fn at_hash_vectors() {
        // OpenID Connect Core 1.0, Appendix A.3 (RS256).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(at_hash(Alg::RS256, token), "77QmUPtjPfzWtF2AnpK9RQ");
        assert_eq!(at_hash(Alg::ES256, token), "77QmUPtjPfzWtF2AnpK9RQ");
        // SHA-512 left half, computed independently (Python hashlib).
        assert_eq!(
            at_hash(Alg::EdDSA, token),
            "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM"
        );
    }

    #[test]
    fn debug_output_has_no_key_material() {
        let k = key(Alg::EdDSA);
        let s = format!("{k:?}");
        assert!(s.contains(k.kid()));
        let x = k.public_jwk()["x"].as_str().unwrap();
        assert!(!s.contains(x));
        let v = format!("{:?}", k.verifying_key());
        assert!(v.contains(k.kid()) && !v.contains(x));
    }

    #[test]
    fn max_size_signature_decodes_into_stack_buffer() {
        let sig = [0xa5u8; MAX_SIG_LEN];
        let enc = b64(&sig);
        assert_eq!(enc.len(), b64_len(MAX_SIG_LEN));
        let mut buf = [0u8; MAX_SIG_LEN];
        assert_eq!(
            URL_SAFE_NO_PAD.decode_slice(&enc, &mut buf),
            Ok(MAX_SIG_LEN)
        );
        assert_eq!(buf, sig);
    }

    #[test]
    fn b64_len_matches() {
        for n in 0..50 {
            assert_eq!(b64_len(n), b64(&vec![0u8; n]).len());
        }
    }
}
