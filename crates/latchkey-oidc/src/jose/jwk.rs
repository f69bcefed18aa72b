//! Public JSON Web Keys: the members of RSA, EC P-256 and OKP Ed25519 keys,
//! RFC 7638 thumbprints, the JWK we publish, and importing a public JWK (ours
//! or another provider's) as a [`VerifyingKey`].

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{Alg, JoseError, b64};

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// JWK members that only appear in private keys.
pub(super) const PRIVATE_JWK_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// Raw public key components, as they appear (decoded) in a JWK.
pub(super) enum PublicParts {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// P-256 affine coordinates, 32 bytes each.
    P256 { x: Vec<u8>, y: Vec<u8> },
    /// Ed25519 public key, 32 bytes.
    Ed25519 { x: Vec<u8> },
}

impl PublicParts {
    pub(super) fn alg(&self) -> Alg {
        match self {
            PublicParts::Rsa { .. } => Alg::RS256,
            PublicParts::P256 { .. } => Alg::ES256,
            PublicParts::Ed25519 { .. } => Alg::EdDSA,
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in
    /// lexicographic order, no whitespace, base64url.
    pub(super) fn thumbprint(&self) -> String {
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
    pub(super) fn to_jwk(&self, kid: &str) -> Value {
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
    pub(super) fn from_parts(kid: Arc<str>, parts: &PublicParts) -> Result<Self, JoseError> {
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
