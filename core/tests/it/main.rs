//! All of stella-core's integration tests, in one test binary (one link of the
//! library instead of one per file). Each module is one former test file; the modules
//! without tests are shared fixtures (test data, a loopback HTTP server, OCI layouts,
//! redis-server).

#[macro_use]
mod feed_store;
mod advisory_feeds;
mod cvss_feeds;
#[cfg(feature = "mongo")]
mod feed_store_mongo;
mod feed_store_sqlite;
mod feedser_export;
mod feedser_fetch;
mod feedser_merge;
mod feedser_runner;
mod identity;
mod import_sample;
mod inventory_build;
mod inventory_layer;
mod inventory_source;
mod language_analyzers;
mod layer_fragments;
mod layer_store;
mod layers;
mod loopback_http;
mod matcher_published;
mod module_layering;
mod oci_layout;
mod oracle_differential;
mod policy_kev;
mod policy_rego;
mod policy_rules;
mod policy_vex;
mod purl_spec;
mod queue;
mod quota;
mod redis_server;
mod sarif_schema;
mod sbom_formats;
mod testdata;
