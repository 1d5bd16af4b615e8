//! Policy: reviewed, expiring, justified mute rules ([`mute`]) and the VEX documents
//! vendors publish ([`vex`]), which are turned into the same mute rules.

pub mod mute;
pub mod rego;
pub mod vex;
