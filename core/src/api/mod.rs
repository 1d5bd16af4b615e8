//! The stella-core HTTP API (axum): routes, authentication, metrics, OpenAPI.
