//! stella-server: the StellaOps core server. The HTTP API ([`api`], thin handlers),
//! the services they call ([`service`]), metrics, settings, TLS and start-up.
//!
//! Layering, top to bottom: [`start`] wires everything; [`api`] extracts requests
//! and calls one service; [`service`] does the work on `stella_core`'s domain;
//! [`metrics`], [`config`] and [`tls`] sit underneath.

pub mod api;
pub mod config;
pub mod metrics;
pub mod service;
pub mod start;
pub mod tls;
