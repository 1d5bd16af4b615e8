//! The stella-core server's runtime: settings, scanning with shared state, TLS.

pub mod config;
pub mod scanner;
