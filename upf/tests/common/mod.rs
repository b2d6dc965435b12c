//! Helpers shared by the integration tests: a minimal HTTP GET over a real
//! socket (hyper's client; no HTTP parsing of our own).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

pub async fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the API");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr.to_string());
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    }
}

/// The lock every test that starts a DPDK process holds while it runs
/// (shared with the shell suites in scripts/tests/, which take it with
/// `flock`): a busy-polling `upf` takes a whole core of a small CI
/// machine, so they run one at a time.
pub const DPDK_TEST_LOCK: &str = "/tmp/upf-dpdk-tests.lock";

/// Blocks until this test holds [`DPDK_TEST_LOCK`]; released when the
/// returned file is dropped (or the process ends).
pub fn dpdk_lock() -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(DPDK_TEST_LOCK)
        .expect("open the DPDK test lock");
    f.lock().expect("take the DPDK test lock");
    f
}

/// The EAL runtime directory of `prefix` (`eal_create_runtime_dir` in
/// DPDK 22.11), to check that nothing is left behind.
pub fn eal_runtime_dir(prefix: &str) -> std::path::PathBuf {
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let base = if root {
        std::path::PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(
            || std::path::PathBuf::from("/tmp"),
            std::path::PathBuf::from,
        )
    };
    base.join("dpdk").join(prefix)
}
