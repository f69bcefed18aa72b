use std::sync::Arc;

use latchkey_oidc::crypto::MasterKey;

/// One instance key for every test server, so that replicas and restarts in a test agree.
pub fn master_key() -> Arc<MasterKey> {
    Arc::new(MasterKey::from_bytes(&[7u8; 32]).expect("master key"))
}
