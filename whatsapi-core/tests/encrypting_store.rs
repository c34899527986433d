//! The store conformance suite against `EncryptingStore` over `MemoryStore`: the decorator is a complete `Store`.

use std::sync::Arc;

use whatsapi_core::Store;
use whatsapi_core::encryption::{EncryptingStore, EncryptionKey, KeyRing};
use whatsapi_core::testing::MemoryStore;

async fn make() -> Arc<dyn Store> {
    Arc::new(EncryptingStore::new(
        Arc::new(MemoryStore::new()),
        KeyRing::new(EncryptionKey::generate()),
    ))
}

whatsapi_core::store_conformance_tests!(make);
