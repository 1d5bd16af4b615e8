//! All of stella's integration tests (they run the real `stella` binary), in one test
//! binary. `demo_run` and `scan_report` are shared fixtures.

mod cli;
mod demo_run;
mod feeds;
mod image_sbom;
mod policy;
mod registry;
mod scan_report;
mod server_client;
