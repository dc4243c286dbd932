//! The integration tests of `tailor`, in one test binary: one link instead of one per
//! file keeps a clean build's disk use and link time down. Each module is one former
//! test file; nextest still runs every test in its own process.

mod common;
mod crash;
mod deploy;
mod disk_full;
mod docs;
mod forget;
mod group_kill;
mod import;
mod items;
mod load;
mod logs;
mod models;
mod offline;
mod schema;
mod soak;
