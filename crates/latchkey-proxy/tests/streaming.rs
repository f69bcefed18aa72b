//! 100 MiB each way through the proxy, for a signed-in person: the upload reaches the
//! upstream and the download reaches the browser as streams, never held whole, so the
//! process's peak memory hardly moves. (The provider, the upstream, the proxy and the client
//! all run in this test process, which has this one test: its peak RSS bounds the proxy's.)

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use common::{Browser, World};
use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use hyper_util::rt::TokioIo;
use latchkey_testkit::{Served, bind_loopback};

const TOTAL: u64 = 100 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Byte `i` of the stream both ways: not all zeroes, so a mix-up would show in the sum.
fn chunk(index: u64) -> Bytes {
    let start = index * CHUNK as u64;
    Bytes::from_iter((0..CHUNK as u64).map(|i| ((start + i) % 251) as u8))
}

/// What the stream's bytes add up to.
fn expected_sum() -> u64 {
    (0..TOTAL).map(|i| i % 251).sum()
}

/// A body of [`TOTAL`] bytes, produced as it is sent.
fn generated() -> Body {
    let (mut tx, body) = Channel::<Bytes, Infallible>::new(2);
    tokio::spawn(async move {
        for i in 0..TOTAL / CHUNK as u64 {
            if tx.send_data(chunk(i)).await.is_err() {
                return;
            }
        }
    });
    Body::new(body)
}

/// Adds up a body's bytes as they arrive: (length, sum).
async fn consume<B>(mut body: B) -> (u64, u64)
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    let (mut len, mut sum) = (0u64, 0u64);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("body frame").into_data() {
            len += data.len() as u64;
            sum += data.iter().map(|b| u64::from(*b)).sum::<u64>();
        }
    }
    (len, sum)
}

/// The upstream: `POST /upload` adds up what it receives; `GET /download` streams.
async fn bulk_upstream(received: Arc<AtomicU64>) -> (Served, String) {
    let listener = bind_loopback(0).await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route(
            "/upload",
            post(move |body: Body| async move {
                let (len, sum) = consume(body).await;
                received.store(len, Ordering::SeqCst);
                format!("{len} {sum}")
            }),
        )
        .route("/download", get(|| async { generated() }));
    (Served::start(listener, app), url)
}

/// The peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_each_way_stream_with_flat_memory() {
    let received = Arc::new(AtomicU64::new(0));
    let (_upstream, upstream_url) = bulk_upstream(received.clone()).await;
    let w = World::start(|s| s.upstreams = vec![format!("{upstream_url}/")]).await;
    let browser = Browser::new();
    let signed_in = w.sign_in(&browser, "alice", "/").await;
    assert_eq!(signed_in.status, 302, "{}", signed_in.body);
    let cookie = browser
        .jar
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");

    // One keep-alive connection to the proxy, driven by hyper so both bodies stream.
    let addr = w.proxy_url.trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut conn, driver) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(driver);
    let before = peak_rss_kib();

    let upload = hyper::Request::post(format!("http://{addr}/upload"))
        .header("host", &addr)
        .header("cookie", &cookie)
        .header("content-length", TOTAL.to_string())
        .body(generated())
        .unwrap();
    let answer = conn.send_request(upload).await.unwrap();
    assert_eq!(answer.status(), 200, "the upload passed the proxy");
    let text = answer.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&text),
        format!("{TOTAL} {}", expected_sum()),
        "the upstream received every byte, in order"
    );
    assert_eq!(received.load(Ordering::SeqCst), TOTAL);

    let download = hyper::Request::get(format!("http://{addr}/download"))
        .header("host", &addr)
        .header("cookie", &cookie)
        .body(Body::empty())
        .unwrap();
    let answer = conn.send_request(download).await.unwrap();
    assert_eq!(answer.status(), 200, "the download passed the proxy");
    assert_eq!(
        consume(answer.into_body()).await,
        (TOTAL, expected_sum()),
        "the browser received every byte, in order"
    );

    let grown_mib = (peak_rss_kib().saturating_sub(before)) as f64 / 1024.0;
    println!("peak RSS grew by {grown_mib:.1} MiB while 200 MiB went through the proxy");
    assert!(
        grown_mib < 32.0,
        "bodies are streamed, not held: the peak grew by {grown_mib:.1} MiB"
    );
    // Without the session, neither gets through.
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut conn, driver) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(driver);
    let anonymous = hyper::Request::get(format!("http://{addr}/download"))
        .header("host", &addr)
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap();
    let refused = conn.send_request(anonymous).await.unwrap();
    assert_ne!(refused.status(), 200);
    w.stop().await;
}
