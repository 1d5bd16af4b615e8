//! Policy: what a scan's findings mean for a team. A [`document::PolicyDocument`]
//! (YAML, versioned, the ScanPolicy resource's spec) holds ordered rules with actions
//! (`fail | warn | ignore`), a default action, mute rules ([`mute`]) and optional Rego
//! modules ([`rego`]); VEX documents ([`vex`]) become more mute rules. [`compiled`]
//! checks and compiles a document, [`evaluate`] turns findings into a
//! [`crate::verdict::Verdict`].

pub mod audit;
pub mod compiled;
pub mod context;
pub mod document;
pub mod evaluate;
pub mod generated;
pub mod ignore;
pub mod kev;
pub mod mute;
pub mod rego;
pub mod rule;
pub mod selector;
pub mod store;
pub mod vex;
