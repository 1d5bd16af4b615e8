//! One module per `stella` subcommand.

pub mod db;
pub mod feeds;
pub mod image;
pub mod policy;
pub mod quota;
pub mod sbom;
pub mod scan;
pub mod token;
