//! A short-lived in-process cache of clients, so the token endpoint does not read the database
//! for the client on every request. Entries live [`TTL`]: a client changed elsewhere (the CLI,
//! another replica) is seen within that time; changes made through this process are seen at
//! once because they evict the entry. Unknown ids are not cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use latchkey_store::{Client, ClientId, Role, Store, StoreError};

pub const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct ClientCache {
    entries: RwLock<HashMap<ClientId, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    pub async fn get(
        &self,
        store: &Store,
        role: Role,
        id: &ClientId,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if let Some((at, client)) = entries.get(id)
                && at.elapsed() < TTL
            {
                return Ok(Some(client.clone()));
            }
        }
        let Some(client) = store.find_client(role, id).await? else {
            self.evict(id);
            return Ok(None);
        };
        let client = Arc::new(client);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id.clone(), (Instant::now(), client.clone()));
        Ok(Some(client))
    }

    pub fn evict(&self, id: &ClientId) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}
