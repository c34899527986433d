//! Benchmarks and the load harness of whatsapi.
