//! Shared by the binary's black-box tests: the real `latchkey` with a clean environment,
//! started and stopped as an operator would.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};
use std::process::Command;

use latchkey_testkit::{Process, whois_body};
use serde_json::Value;

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCHKEY_")
            || k == "APP_URL"
            || k.starts_with("ENCRYPTION_KEY")
            || k.starts_with("TS_")
            || k.starts_with("TSIDP_")
            || k.starts_with("WEBAUTHN_")
            || matches!(
                k.as_str(),
                "HOST" | "PORT" | "DB_CONNECTION_STRING" | "TRUST_PROXY" | "SESSION_DURATION"
            )
        {
            c.env_remove(k);
        }
    }
    c
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latchkey-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Writes `latchkey.toml` with this text into `dir` (created): the file's path.
pub fn write_config(dir: &Path, toml: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("latchkey.toml");
    std::fs::write(&config, toml).unwrap();
    config.to_str().expect("a UTF-8 path").to_owned()
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

/// `latchkey GLOBAL clients create --role ROLE --name NAME --redirect-uri URI EXTRA`, which
/// must succeed: the new client's id and secret.
pub fn create_client(
    global: &[&str],
    role: &str,
    name: &str,
    redirect_uri: &str,
    extra: &[&str],
) -> (String, String) {
    let mut args = global.to_vec();
    args.extend(["clients", "create", "--role", role, "--name", name]);
    args.extend(["--redirect-uri", redirect_uri]);
    args.extend(extra);
    let created = run(&args).unwrap_or_else(|stderr| panic!("clients create: {stderr}"));
    assert_eq!(created.len(), 1, "one JSON object: {created:?}");
    let text = |key: &str| created[0][key].as_str().expect(key).to_owned();
    (text("client_id"), text("client_secret"))
}

/// What the stand-in tailscaled says of Alice (userid:1001) on her laptop, with these tsidp
/// grant rules.
pub fn alice_whois(rules: Vec<Value>) -> Value {
    whois_body(
        1001,
        "alice@example.com",
        "Alice",
        "alice-laptop",
        &["100.64.0.2"],
        rules,
    )
}

pub struct Server {
    process: Process,
    pub base: String,
}

impl Server {
    /// Starts `latchkey` with JSON logs and waits for the "serving" line to learn the port.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_on(data_dir, "127.0.0.1:0", extra)
    }

    /// Like [`Server::start`], on a chosen address.
    pub fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Server {
        let process = Process::spawn(
            bin()
                .arg("--data-dir")
                .arg(data_dir)
                .args(["--listen", listen, "--log-format", "json"])
                .args(extra),
        );
        let serving = process.wait_for_log(|message| message == "serving");
        let addr = serving["listen"].as_str().unwrap_or_default();
        Server {
            base: format!("http://{addr}"),
            process,
        }
    }

    /// `latchkey tsidp` on `listen`, its issuer that address, asking the tailscaled at
    /// `socket` who is connecting.
    pub fn start_tsidp(data_dir: &Path, listen: &str, socket: &Path) -> Server {
        let base = format!("http://{listen}");
        let socket = socket.to_str().expect("a UTF-8 socket path");
        let flags = [
            "--public-url",
            &base,
            "--tailscaled-socket",
            socket,
            "tsidp",
        ];
        Server::start_on(data_dir, listen, &flags)
    }

    /// SIGTERM; the exit status.
    /// On a first start the RSA key is made in the background once serving has begun; this
    /// waits for it (call it only after a first start: a restart makes no key).
    pub fn wait_for_rsa_key(&self) {
        let line = self
            .process
            .wait_for_log(|message| message == "created signing key");
        assert_eq!(line["alg"], "RS256", "{line}");
    }

    /// The first JSON log line from now on whose message satisfies `wanted`.
    pub fn wait_for_log(&self, wanted: impl Fn(&str) -> bool) -> Value {
        self.process.wait_for_log(wanted)
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        self.process.terminate()
    }
}

/// The JWKS at `base` once it holds `n` keys (waiting up to 60 s): a first start makes its
/// RSA key in the background, which takes a while on a busy machine.
pub async fn jwks_with(http: &reqwest::Client, base: &str, n: usize) -> Value {
    let url = format!("{base}/.well-known/jwks.json");
    let mut jwks = Value::Null;
    for _ in 0..600 {
        jwks = http.get(&url).send().await.unwrap().json().await.unwrap();
        if jwks["keys"].as_array().is_some_and(|k| k.len() >= n) {
            return jwks;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the JWKS never held {n} keys: {jwks}");
}
