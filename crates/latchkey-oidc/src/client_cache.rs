//! A short-lived in-process cache of clients, so the token endpoint does not read the database
//! for the client on every request. Entries live [`TTL`]: a client changed elsewhere (the CLI,
//! another replica) is seen within that time; changes made through this process are seen at
//! once because they evict the entry. Unknown ids are not cached.

use std::sync::Arc;
use std::time::Duration;

use latchkey_store::{Client, ClientId, IssuerId, Store, StoreError};

use crate::ttl_cache::TtlCache;

pub const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;

pub struct ClientCache {
    entries: TtlCache<ClientId, Arc<Client>>,
}

impl Default for ClientCache {
    fn default() -> Self {
        ClientCache {
            entries: TtlCache::new(TTL, MAX_ENTRIES),
        }
    }
}

impl ClientCache {
    pub async fn get(
        &self,
        store: &Store,
        issuer: &IssuerId,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.entries.get(id) {
            return Ok(Some(client));
        }
        let Some(client) = store.find_client(issuer, id).await? else {
            self.evict(id);
            return Ok(None);
        };
        let client = Arc::new(client);
        self.entries.insert(id.clone(), client.clone());
        Ok(Some(client))
    }

    pub fn evict(&self, id: &ClientId) {
        self.entries.remove(id);
    }
}
