//! nginx as the proxy scenario's static upstream and as the reverse proxy to compare with:
//! one nginx, started by the driver with its own configuration in a temporary directory,
//! serving a fixed body on one port and `proxy_pass`ing to that port from another.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::{self, Server, free_port};

/// Size of the static body, the same for every path measured.
pub const BODY_LEN: usize = 1024;

/// The nginx binary Debian's `nginx-light` (or `nginx`) installs.
const NGINX: &str = "nginx";

/// A running nginx: the static server and the `proxy_pass` server in front of it.
pub struct Nginx {
    /// The master process; stopping it (SIGTERM) stops the workers.
    pub master: Server,
    pub static_port: u16,
    pub pass_port: u16,
}

/// nginx's version line (`nginx version: nginx/1.22.1`), or a clear error if it is missing.
pub fn version() -> Result<String, String> {
    let out = Command::new(NGINX).arg("-v").output().map_err(|e| {
        format!(
            "nginx is needed for the proxy scenario and could not be run ({e}): install it, \
             e.g. `sudo apt-get install -y --no-install-recommends nginx-light`"
        )
    })?;
    // `nginx -v` prints to stderr.
    let text = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        return Err(format!("`nginx -v` failed ({}): {text}", out.status));
    }
    Ok(text)
}

/// The static body: printable, fixed, exactly [`BODY_LEN`] bytes.
pub fn body() -> Vec<u8> {
    let mut body: Vec<u8> = b"latchkey bench static page "
        .iter()
        .copied()
        .cycle()
        .take(BODY_LEN - 1)
        .collect();
    body.push(b'\n');
    body
}

/// The configuration: `daemon off` so the driver owns the master process, access logging
/// off (the proxy logs nothing per request at `warn` either), keep-alive connections that
/// are never closed for their number of requests (nginx's default closes one after 1000,
/// which would make every worker reconnect during a run), and an upstream block that keeps
/// up to 32 idle connections to the static server open.
fn config(dir: &Path, workers: u32, static_port: u16, pass_port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process on;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    default_type text/plain;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    upstream static_upstream {{
        server 127.0.0.1:{static_port};
        keepalive 32;
        keepalive_requests 100000000;
    }}

    server {{
        listen 127.0.0.1:{static_port};
        root {d}/www;
        index index.html;
    }}

    server {{
        listen 127.0.0.1:{pass_port};
        location / {{
            proxy_pass http://static_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
    )
}

impl Nginx {
    /// Writes the configuration and the page under `dir` and starts nginx with `workers`
    /// worker processes on two free loopback ports; returns once the static server answers.
    pub async fn start(dir: &Path, workers: u32) -> Result<Nginx, String> {
        let io = |p: &Path, e: std::io::Error| format!("writing {}: {e}", p.display());
        for sub in ["www", "tmp"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
        }
        let page = dir.join("www").join("index.html");
        std::fs::write(&page, body()).map_err(|e| io(&page, e))?;
        let static_port = free_port()?;
        let pass_port = free_port()?;
        let conf: PathBuf = dir.join("nginx.conf");
        std::fs::write(&conf, config(dir, workers, static_port, pass_port))
            .map_err(|e| io(&conf, e))?;
        let mut cmd = Command::new(NGINX);
        cmd.arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"));
        let mut master = Server::start(cmd, static_port, &dir.join("nginx.out"))?;
        master.wait_for("/").await.map_err(|e| {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            format!("nginx did not start: {e}\n{log}")
        })?;
        Ok(Nginx {
            master,
            static_port,
            pass_port,
        })
    }

    /// The master and its workers, whose CPU time is nginx's.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.master.pid();
        let mut pids = server::children(master);
        pids.push(master);
        pids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_one_kib_of_text() {
        let b = body();
        assert_eq!(b.len(), BODY_LEN);
        assert!(
            b.iter()
                .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\n')
        );
    }

    #[test]
    fn config_names_both_ports_and_keeps_upstream_connections() {
        let c = config(Path::new("/tmp/x"), 2, 8001, 8002);
        assert!(c.contains("worker_processes 2;"));
        assert!(c.contains("listen 127.0.0.1:8001;"));
        assert!(c.contains("listen 127.0.0.1:8002;"));
        assert!(c.contains("server 127.0.0.1:8001;"));
        assert!(c.contains("keepalive 32;"));
        assert!(c.contains("proxy_set_header Connection \"\";"));
    }
}
