//! The stella-core server's runtime: settings, start-up and shutdown, scanning with
//! shared state, Feedser access, TLS.

pub mod config;
pub mod feeds;
pub mod scanner;
pub mod scans;
pub mod start;
pub mod tls;
