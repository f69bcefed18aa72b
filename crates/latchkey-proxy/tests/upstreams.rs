//! Every kind of upstream behind the proxy: `static://`, `file://` (streamed, never outside
//! its directory), `unix://`, and a protocol upgrade (the WebSocket handshake's shape)
//! passed through in both directions. The routes skip authentication: what is tested here is
//! where requests go, not who may send them.

mod common;

use std::convert::Infallible;

use axum::Router;
use bytes::Bytes;
use common::World;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An upstream that answers `Upgrade: echo` with 101, then echoes the bytes it receives.
async fn echo_upgrade_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|mut req: hyper::Request<Incoming>| async move {
                let upgraded = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    if let Ok(up) = upgraded.await {
                        let mut io = TokioIo::new(up);
                        let mut buf = [0u8; 1024];
                        while let Ok(n) = io.read(&mut buf).await {
                            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                });
                let resp = hyper::Response::builder()
                    .status(101)
                    .header("connection", "upgrade")
                    .header("upgrade", "echo")
                    .header(
                        "x-seen-upgrade",
                        req.headers()
                            .get("upgrade")
                            .cloned()
                            .unwrap_or_else(|| "none".parse().unwrap()),
                    )
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                Ok::<_, Infallible>(resp)
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_upstream() {
    let root =
        std::env::temp_dir().join(format!("latchkey-proxy-upstreams-{}", std::process::id()));
    let files = root.join("www");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("hello.txt"), "hello from a file").unwrap();
    std::fs::write(root.join("secret.txt"), "outside").unwrap();
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(files.join("big.bin"), &big).unwrap();

    // A unix-socket upstream: an axum app saying which path it got.
    let socket = root.join("app.sock");
    let unix = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        let app =
            Router::new().fallback(|uri: axum::http::Uri| async move { format!("unix saw {uri}") });
        axum::serve(unix, app).await.unwrap();
    });
    let echo = echo_upgrade_server().await;

    let world = {
        let (files, socket, echo) = (files.clone(), socket.clone(), echo.clone());
        World::start(move |s| {
            s.skip_auth_routes = vec!["^/".into()];
            s.upstreams = vec![
                "static://202#/health/".into(),
                format!("file://{}#/files/", files.display()),
                format!("unix://{}#/unix/", socket.display()),
                format!("{echo}/ws"),
            ];
        })
        .await
    };
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(world.url(path)).send();

    let r = get("/health/").await.unwrap();
    assert_eq!(r.status(), 202);
    let r = get("/files/hello.txt").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().await.unwrap(), "hello from a file");
    let r = get("/files/big.bin").await.unwrap();
    assert_eq!(
        r.headers()["content-length"],
        big.len().to_string().as_str()
    );
    assert!(
        r.bytes().await.unwrap() == big,
        "a large file arrives whole"
    );
    for outside in [
        "/files/../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/nothing",
    ] {
        assert_eq!(get(outside).await.unwrap().status(), 404, "{outside}");
    }
    let r = get("/unix/deep/path?q=1").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "unix saw /unix/deep/path?q=1");
    // Nothing is mounted at the root.
    assert_eq!(get("/elsewhere").await.unwrap().status(), 404);

    // An upgrade: the handshake reaches the upstream with its Upgrade header, the 101 comes
    // back, and bytes flow both ways on the joined connections.
    let addr = world.proxy_url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let handshake =
        format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    conn.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "the answer's head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("x-seen-upgrade: echo"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    for message in ["ping", "a second message"] {
        conn.write_all(message.as_bytes()).await.unwrap();
        let mut back = vec![0u8; message.len()];
        conn.read_exact(&mut back).await.unwrap();
        assert_eq!(back, message.as_bytes());
    }

    world.stop().await;
    let _ = std::fs::remove_dir_all(&root);
}
