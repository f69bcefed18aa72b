//! An axum router served on a loopback port, as the roles' tests need it: the caller's address
//! is known to handlers (`ConnectInfo`), and the server stops gracefully on request.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Binds 127.0.0.1:`port` (0: any free port). Bind first, then build what needs the address
/// (an issuer URL), then [`Served::start`].
pub async fn bind_loopback(port: u16) -> TcpListener {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1")
}

/// A port on `host` that was free a moment ago (for a process that must be told its port).
pub fn free_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("bind {host}:0: {e}"))
        .port()
}

/// A router being served. Dropping it starts a graceful stop without waiting for it.
pub struct Served {
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Served {
    /// Serves `app` on `listener` with the peer address as `ConnectInfo<SocketAddr>`.
    pub fn start(listener: TcpListener, app: axum::Router) -> Served {
        let addr = listener.local_addr().expect("local addr");
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Served {
            addr,
            shutdown,
            task,
        }
    }

    /// Stops accepting, and waits (10 s at the most) until open connections are done.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server did not stop")
            .expect("server task");
    }
}
