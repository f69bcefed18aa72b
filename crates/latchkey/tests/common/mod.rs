//! Shared by the binary's black-box tests: the real `latchkey` with a clean environment,
//! started and stopped as an operator would.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use latchkey_testkit::{FakeTailscaled, whois_body};
use serde_json::Value;

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCHKEY_")
            || k == "APP_URL"
            || k.starts_with("ENCRYPTION_KEY")
            || k.starts_with("TS_")
            || k.starts_with("TSIDP_")
        {
            c.env_remove(k);
        }
    }
    c
}

/// Runs `latchkey ARGS` to completion; its stdout as JSON lines, or its stderr on failure.
pub fn run(args: &[&str]) -> Result<Vec<Value>, String> {
    let out = bin().args(args).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect())
}

/// `latchkey GLOBAL… clients create --role ROLE --name NAME --redirect-uri URI EXTRA…`: the
/// client it printed.
pub fn create_client(
    global: &[&str],
    role: &str,
    name: &str,
    redirect: &str,
    extra: &[&str],
) -> Value {
    let create = [
        "clients",
        "create",
        "--role",
        role,
        "--name",
        name,
        "--redirect-uri",
        redirect,
    ];
    let args: Vec<&str> = [global, &create, extra].concat();
    run(&args).unwrap().remove(0)
}

/// A stand-in tailscaled that names the peer at `addr` as Alice (`userid:1001`,
/// alice@example.com) with `rules` in her `tailscale.com/cap/tsidp` grant.
pub async fn tailscaled_with_alice(addr: &str, rules: Vec<Value>) -> FakeTailscaled {
    let fake = FakeTailscaled::start().await;
    fake.set_peer(
        addr.parse().unwrap(),
        whois_body(
            1001,
            "alice@example.com",
            "Alice",
            "alice-laptop",
            &["100.64.0.2"],
            rules,
        ),
    );
    fake
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latchkey-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// `latchkey tsidp` at `http://LISTEN`, asking `fake` who is connecting.
    pub fn start_tsidp(data_dir: &Path, listen: &str, fake: &FakeTailscaled) -> Server {
        let base = format!("http://{listen}");
        let socket = fake.socket_path().display().to_string();
        let args = [
            "--public-url",
            &base,
            "--tailscaled-socket",
            &socket,
            "tsidp",
        ];
        Server::start_on(data_dir, listen, &args)
    }

    /// Starts `latchkey` with JSON logs and waits for the "serving" line to learn the port.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// Like [`Server::start`], on a chosen address.
    pub fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Server {
        let mut child = bin()
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", listen, "--log-format", "json"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn latchkey");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "serving"
                {
                    let _ = tx.send(v["listen"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server reported its address");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
