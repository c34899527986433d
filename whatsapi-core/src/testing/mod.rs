//! Test doubles for the four seams and the store conformance suite (feature `testing`).

mod clock;
pub mod conformance;
mod faulty;
mod memory;
mod sink;
mod transport;

pub use clock::ManualClock;
pub use faulty::{Faults, FaultyStore};
pub use memory::MemoryStore;
pub use sink::RecordingSink;
pub use transport::{FakeTransport, ReadRecord, Script, SentRecord, UploadRecord};
