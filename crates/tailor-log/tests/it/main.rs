//! The integration tests of `tailor-log`, in one test binary: one link instead of one per
//! file keeps a clean build's disk use and link time down. Each module is one former
//! test file; nextest still runs every test in its own process.

mod common;
#[cfg(feature = "kafka")]
mod kafka;
mod read_only;
mod recovery;
mod scenarios;
mod writer;
