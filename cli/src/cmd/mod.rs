//! One module per `stella` subcommand.

pub mod db;
pub mod scan;
