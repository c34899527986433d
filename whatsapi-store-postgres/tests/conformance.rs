//! The store conformance suites (core's for the engine traits, the product's for the product traits), run against
//! `PostgresStore`: one test per check, each on a fresh schema of the database at `DATABASE_URL` (dropped once the
//! check passed).

mod common;

use std::sync::Arc;

use whatsapi_core::Store;

async fn make() -> Option<(Arc<dyn Store>, common::TestSchema)> {
    let (store, schema) = common::store().await?;
    Some((store as Arc<dyn Store>, schema))
}

async fn finish(schema: common::TestSchema) {
    schema.drop_schema().await;
}

whatsapi_core::store_conformance_tests!(fixture make, finish);

mod product {
    use whatsapi_saas::testing::conformance::ProductStores;

    use super::common;

    async fn make() -> Option<(ProductStores, common::TestSchema)> {
        let (store, schema) = common::store().await?;
        Some((
            ProductStores {
                tenants: store.clone(),
                product: store,
            },
            schema,
        ))
    }

    whatsapi_saas::product_conformance_tests!(fixture make, super::finish);
}
