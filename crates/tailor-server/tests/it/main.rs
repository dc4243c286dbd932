//! The integration tests of `tailor-server`, in one test binary: one link instead of one per
//! file keeps a clean build's disk use and link time down. Each module is one former
//! test file; nextest still runs every test in its own process.

mod api;
mod attribution;
mod browser;
mod browser_sdk;
mod catalog;
mod collector;
mod common;
mod deploy;
mod erasure;
mod experiments;
mod features;
mod full_answers;
mod group;
mod hostile;
mod kafka;
mod keys;
mod lake;
mod models;
#[path = "../../../tailor-lake/tests/it/moto.rs"]
mod moto;
mod openapi;
mod promtool;
mod quality;
mod roles;
mod sdk;
mod shared_storage;
mod tls;
