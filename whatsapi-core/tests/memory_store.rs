//! The store conformance suite against `MemoryStore`.

use std::sync::Arc;

use whatsapi_core::Store;
use whatsapi_core::testing::MemoryStore;

async fn make() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

whatsapi_core::store_conformance_tests!(make);

/// The whole suite in one go, as `run_all` offers it to callers without the macro.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_passes() {
    whatsapi_core::testing::conformance::run_all(make).await;
}
