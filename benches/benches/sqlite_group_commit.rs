//! Inserts per second into `SqliteStore` with 64 concurrent callers: group commit (the default) against one
//! transaction per insert (`max_batch = 1`), in the same run, on the same machine, both with `synchronous=FULL`.
//!
//! `cargo bench -p whatsapi-benches --bench sqlite_group_commit`; criterion reports time per insert and
//! inserts/s (throughput). Method and figures: BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use whatsapi_core::Store;
use whatsapi_store_sqlite::{SqliteOptions, SqliteStore};

const CALLERS: u64 = 64;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("sqlite_insert_64_callers");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));
    for (name, max_batch) in [("group_commit", 512), ("one_tx_per_insert", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteOptions {
            max_batch,
            ..SqliteOptions::default()
        };
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_with(dir.path().join("bench.db"), options).unwrap());
        let account = rt.block_on(whatsapi_benches::sample_account(store.as_ref()));
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                async move {
                    let per_caller = iters.div_ceil(CALLERS);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..CALLERS)
                        .map(|_| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_caller {
                                    let m = whatsapi_benches::text_message(account);
                                    store
                                        .insert_messages(whatsapi_benches::one(account, m))
                                        .await
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    // Report the time per requested insert (the callers did per_caller * 64 >= iters).
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_caller * CALLERS) as f64)
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
