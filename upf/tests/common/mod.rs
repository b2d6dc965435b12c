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
