//! PKCE (RFC 7636), S256 only: `plain` offers no protection against a leaked request.

use crate::crypto::{b64url, constant_time_eq, sha256};

/// A valid `code_verifier` or `code_challenge` is 43–128 unreserved characters.
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub fn s256_challenge(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    is_well_formed(verifier)
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verify_s256(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify_s256(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
    }

    #[test]
    fn shape() {
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(is_well_formed(&"a".repeat(43)));
        assert!(!is_well_formed(&format!("{}+", "a".repeat(43))));
    }
}
