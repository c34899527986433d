//! The store conformance suites, run against `SqliteStore`: core's (`whatsapi-core::testing`) for the engine traits
//! and the product's (`whatsapi-saas::testing`) for the product traits; one test per check, each on a fresh
//! database file.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use whatsapi_core::Store;
use whatsapi_store_sqlite::SqliteStore;

/// This run's folder under Cargo's target tmp dir; earlier runs' files are removed first.
fn run_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance");
        let _ = std::fs::remove_dir_all(&root);
        root.join(std::process::id().to_string())
    })
}

fn open() -> Arc<SqliteStore> {
    let path = run_dir().join(format!("{}.db", uuid::Uuid::now_v7()));
    Arc::new(SqliteStore::open(path).expect("open a fresh database"))
}

async fn make() -> Arc<dyn Store> {
    open()
}

whatsapi_core::store_conformance_tests!(make);

mod product {
    use whatsapi_saas::testing::conformance::ProductStores;

    async fn make() -> ProductStores {
        let store = super::open();
        ProductStores {
            tenants: store.clone(),
            product: store,
        }
    }

    whatsapi_saas::product_conformance_tests!(make);
}
