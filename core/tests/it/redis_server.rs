//! A real `redis-server` (Debian package `redis-server`) on a free loopback port, for
//! tests of the Redis adapters. Each test that needs Redis starts its own server, so
//! tests never share keys; the server is killed when the handle drops.
//!
//! Set `STELLA_TEST_REDIS_URL` to use an already running server instead (its
//! database is then shared: tests use random key prefixes where that matters).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Redis server for one test.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// `redis://127.0.0.1:PORT/`.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port (or uses `STELLA_TEST_REDIS_URL`).
    /// Panics with how to install it when `redis-server` is missing: these tests talk to
    /// a real server, there is no fake to fall back to.
    pub fn start() -> RedisServer {
        if let Ok(url) = std::env::var("STELLA_TEST_REDIS_URL") {
            return RedisServer {
                child: None,
                url,
                _dir: None,
            };
        }
        let dir = tempfile::tempdir().expect("temp dir for redis");
        // Port 0 is not accepted by redis-server: take a free port from the kernel.
        // Another process could take it before Redis binds it, so retry a few times.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                ])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) => panic!(
                    "cannot start redis-server ({e}): install it with `apt-get install redis-server` \
                     (`make test` does, through e2e/prerequisites.sh) or set STELLA_TEST_REDIS_URL"
                ),
            };
            if wait_for_ping(port, &mut child) {
                return RedisServer {
                    child: Some(child),
                    url: format!("redis://127.0.0.1:{port}/"),
                    _dir: Some(dir),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on a free loopback port");
    }
}

/// Waits until the server answers PING (false when it exited or took over 10 s).
fn wait_for_ping(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
