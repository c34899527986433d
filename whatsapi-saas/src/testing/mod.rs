//! Test doubles of the product: [`MemoryProductStore`], [`FaultyProductStore`], and the product store
//! [`conformance`] suite every store crate runs.

pub mod conformance;
mod faulty;
mod memory;

pub use faulty::FaultyProductStore;
pub use memory::MemoryProductStore;
