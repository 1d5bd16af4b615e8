//! All of stella-server's integration tests (they run the real `stella-server`
//! binary), in one test binary. `server_run` starts it; `redis_server` is core's fixture.

#[path = "../../../core/tests/it/redis_server.rs"]
mod redis_server;
mod server_api;
mod server_redis;
mod server_run;
mod server_tls;
