//! Fuzz harnesses for Tailor's parsers and decoders. Each module is one fuzz target: a `run`
//! function that takes arbitrary bytes and panics only when a property fails (a panic of the
//! code under test is one). The binaries in `src/bin/` hand `run` to `afl::fuzz!`; run
//! outside afl-fuzz they read one input from stdin, which is how `scripts/fuzz.sh` replays
//! the corpus. See README.md, "Fuzzing".

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod feature_state;
pub mod features_config;
pub mod log_frame;
pub mod log_segment;
pub mod samples;
pub mod schema;
pub mod segment_batch;
