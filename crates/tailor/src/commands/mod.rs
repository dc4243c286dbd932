//! One module per subcommand.

pub mod bench;
pub mod completions;
pub mod config_cmd;
pub mod demo;
pub mod eval;
pub mod features;
pub mod forget;
pub mod generate;
pub mod import;
pub mod items;
pub mod keys;
pub mod log;
pub mod models;
pub mod replay;
pub mod schema;
pub mod serve;
pub mod sql;
pub mod train;
