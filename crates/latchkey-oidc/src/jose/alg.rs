//! The JWS algorithms Latchkey supports, and the digest each implies.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};

use super::{JoseError, b64};

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
    use serde_json::Value;

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
}
