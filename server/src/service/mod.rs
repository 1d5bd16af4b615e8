//! The server's services, one per area; API handlers call these and nothing else.

pub mod engine;
pub mod feeds;
pub mod scans;
