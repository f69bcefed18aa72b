//! Access tokens this process signed moments ago, remembered by digest. Userinfo and
//! introspection usually see a token within seconds of its issue; a token byte for byte equal
//! to one we signed is ours, so its signature need not be verified again (an ECDSA
//! verification costs more than the rest of a userinfo answer). Everything else about the
//! token — type, issuer, expiry, deny-list, grant — is still checked. Other replicas, and
//! tokens older than [`TTL`], go through full verification.

use std::time::Duration;

use crate::crypto::sha256;
use crate::ttl_cache::TtlCache;

pub const TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 4096;

pub struct MintedTokens {
    digests: TtlCache<[u8; 32], ()>,
}

impl Default for MintedTokens {
    fn default() -> Self {
        MintedTokens {
            digests: TtlCache::new(TTL, MAX_ENTRIES),
        }
    }
}

impl MintedTokens {
    pub fn remember(&self, token: &str) {
        self.digests.insert(sha256(token.as_bytes()), ());
    }

    pub fn contains(&self, token: &str) -> bool {
        self.digests.get(&sha256(token.as_bytes())).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exact_tokens_only() {
        let m = MintedTokens::default();
        m.remember("a.b.c");
        assert!(m.contains("a.b.c"));
        assert!(!m.contains("a.b.d"));
        assert!(!m.contains("a.b.c "));
    }
}
