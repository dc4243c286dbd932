//! One module per subcommand.

pub mod bench;
pub mod demo;
pub mod generate;
pub mod log;
pub mod schema;
pub mod serve;
