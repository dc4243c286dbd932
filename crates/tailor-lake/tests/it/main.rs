//! The integration tests of `tailor-lake`, in one test binary: one link instead of one per
//! file keeps a clean build's disk use and link time down. Each module is one former
//! test file; nextest still runs every test in its own process.

mod common;
mod exactly_once;
mod layout;
mod maintenance;
mod moto;
mod quality;
mod s3;
mod sql;
mod training;
