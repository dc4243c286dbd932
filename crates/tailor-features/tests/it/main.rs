//! The integration tests of `tailor-features`, in one test binary: one link instead of one per
//! file keeps a clean build's disk use and link time down. Each module is one former
//! test file; nextest still runs every test in its own process.

mod backfill;
mod engine_props;
mod feature_config;
mod golden;
mod online_store;
mod point_in_time;
mod reference;
