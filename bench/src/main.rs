//! Load driver for Latchkey: starts the release server on a fresh database, registers
//! clients with the real CLI, plants a browser session, then measures discovery, JWKS, the
//! client credentials grant and the complete authorization code flow over keep-alive
//! HTTP/1.1 connections on 127.0.0.1; then runs the tsidp role against a stand-in tailscaled
//! (in this process) and measures its silent flow. Prints a Markdown report on stdout.
//!
//! `cargo build --release -p latchkey && cargo run -p latchkey-bench --release -- --help`

mod http;
mod load;
mod nginx;
mod proxy;
mod server;
mod sign_in;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hyper::header::HeaderValue;
use latchkey_store::{IssuerId, Session, Store, Subject, unix_now};
use latchkey_testkit::{FakeTailscaled, whois_body};
use sqlx::Connection as _;

use crate::load::{Flow, Op, Outcome};
use crate::server::{CpuProbe, CpuSplit, DISCOVERY, Server};

const USAGE: &str = "\
Usage: latchkey-bench [--postgres] [--seconds N] [--concurrency C] [--wide W] [--driver-threads T]
                      [--server-bin PATH] [--proxy]

  --postgres          use a fresh PostgreSQL database on postgres://postgres@127.0.0.1:5432
                      (created from the `test` database, dropped at the end); default SQLite
  --seconds N         duration of each scenario [default: 10]
  --concurrency C     connections (closed-loop workers) per scenario [default: 8]
  --wide W            also run discovery, JWKS and client_credentials with W connections;
                      0 turns this off [default: 32]
  --driver-threads T  threads of the load generator's runtime [default: 1]
  --server-bin PATH   server binary [default: target/release/latchkey next to this binary]
  --scrape-metrics S  GET /metrics every S seconds during the scenarios, as Prometheus would
                      [default: never]
  --proxy             instead: GET / of a static nginx page directly, through nginx proxy_pass
                      and through `latchkey proxy` with a signed-in session (needs nginx;
                      takes --seconds, --concurrency, --driver-threads, --server-bin)

Build the server first: cargo build --release -p latchkey";

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PG_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";
/// The session cookie's name when the issuer is plain http (latchkey-idp's `session.rs`).
const SESSION_COOKIE: &str = "latchkey_session";
/// Pause after start-up before reading the idle RSS.
const SETTLE: Duration = Duration::from_millis(250);
/// The tailnet user the stand-in tailscaled reports for 127.0.0.1, and the `sub` the tsidp
/// role derives from it.
const TSIDP_USER_ID: i64 = 1001;
const TSIDP_SUBJECT: &str = "userid:1001";
/// Points the tsidp role at the stand-in tailscaled.
const TAILSCALED_SOCKET_ENV: &str = "LATCHKEY_TSIDP_TAILSCALED_SOCKET";
/// Name of the tsidp scenario.
const TSIDP_FLOW: &str = "tsidp silent flow (authorize → token → userinfo)";

struct Args {
    postgres: bool,
    seconds: u64,
    concurrency: usize,
    wide: usize,
    driver_threads: usize,
    server_bin: Option<PathBuf>,
    scrape_metrics: Option<u64>,
    proxy: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        postgres: false,
        seconds: 10,
        concurrency: 8,
        wide: 32,
        driver_threads: 1,
        server_bin: None,
        scrape_metrics: None,
        proxy: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        }
        match arg.as_str() {
            "--postgres" => args.postgres = true,
            "--proxy" => args.proxy = true,
            "--seconds" => args.seconds = number(&arg, value(&arg)?)?,
            "--concurrency" => args.concurrency = number(&arg, value(&arg)?)?,
            "--wide" => args.wide = number(&arg, value(&arg)?)?,
            "--driver-threads" => args.driver_threads = number(&arg, value(&arg)?)?,
            "--server-bin" => args.server_bin = Some(value(&arg)?.into()),
            "--scrape-metrics" => args.scrape_metrics = Some(number(&arg, value(&arg)?)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if args.seconds == 0 || args.seconds > 3600 {
        return Err("--seconds must be between 1 and 3600".into());
    }
    if args.concurrency == 0 || args.concurrency > 1024 || args.wide > 1024 {
        return Err("--concurrency must be between 1 and 1024, --wide at most 1024".into());
    }
    if args.scrape_metrics.is_some_and(|s| s == 0 || s > 3600) {
        return Err("--scrape-metrics must be between 1 and 3600 seconds".into());
    }
    if args.driver_threads == 0 || args.driver_threads > 64 {
        return Err("--driver-threads must be between 1 and 64".into());
    }
    Ok(args)
}

/// `target/release/latchkey`, found from this binary's own path (`target/<profile>/`).
fn locate_server(args: &Args) -> Result<PathBuf, String> {
    if let Some(bin) = &args.server_bin {
        return Ok(bin.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("locating this binary: {e}"))?;
    let mut dir = exe.parent().ok_or("this binary has no directory")?;
    if dir.ends_with("deps") {
        dir = dir.parent().ok_or("unexpected binary location")?;
    }
    let target = dir
        .parent()
        .ok_or("this binary is not in a target directory")?;
    let bin = target.join("release").join("latchkey");
    if !bin.is_file() {
        return Err(format!(
            "the server binary {} is missing: run `cargo build --release -p latchkey` first",
            bin.display()
        ));
    }
    Ok(bin)
}

/// Everything that must be undone at the end, whatever happened.
struct Env {
    data_dir: PathBuf,
    pg_database: Option<String>,
    server: Option<Server>,
    /// The stand-in tailscaled of the tsidp scenario; dropping it removes its socket.
    tailscaled: Option<FakeTailscaled>,
}

impl Env {
    async fn cleanup(&mut self) {
        if let Some(mut server) = self.server.take()
            && let Err(e) = server.stop()
        {
            eprintln!("warning: {e}");
        }
        self.tailscaled.take();
        if let Some(name) = self.pg_database.take()
            && let Err(e) = drop_pg_database(&name).await
        {
            eprintln!("warning: dropping database {name}: {e}");
        }
        if self.data_dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.data_dir)
        {
            eprintln!("warning: removing {}: {e}", self.data_dir.display());
        }
    }
}

impl Drop for Env {
    /// On panic: at least stop the server and remove the data directory.
    fn drop(&mut self) {
        self.server.take();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

async fn pg_admin() -> Result<sqlx::PgConnection, String> {
    sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .map_err(|e| format!("connecting to {PG_ADMIN_URL}: {e}"))
}

/// DDL naming the database `name`, which is checked to be a plain identifier (it is made of
/// a fixed prefix and our process id), so the statement cannot carry anything else.
fn ddl(sql: &str, name: &str) -> Result<sqlx::AssertSqlSafe<String>, String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("refusing database name {name:?}"));
    }
    Ok(sqlx::AssertSqlSafe(sql.to_owned()))
}

async fn drop_pg_database(name: &str) -> Result<(), String> {
    let mut conn = pg_admin().await?;
    sqlx::raw_sql(ddl(
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        name,
    )?)
    .execute(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(())
}

/// Creates `name`; returns the server's version string.
async fn create_pg_database(name: &str) -> Result<String, String> {
    let mut conn = pg_admin().await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(ddl(&format!("CREATE DATABASE {name}"), name)?)
        .execute(&mut conn)
        .await
        .map_err(|e| format!("creating database {name}: {e}"))?;
    let _ = conn.close().await;
    Ok(version)
}

/// Runs a one-shot `latchkey` command against the bench's database; returns what it printed.
fn run_cli(bin: &Path, global: &[String], args: &[&str]) -> Result<String, String> {
    let out = server::command(bin, global)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`latchkey {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `latchkey users add NAME --email NAME@example.com --email-verified`: returns the new
/// person's id (the subject of their tokens).
fn create_user(bin: &Path, global: &[String], name: &str) -> Result<String, String> {
    let email = format!("{name}@example.com");
    let out = run_cli(
        bin,
        global,
        &["users", "add", name, "--email", &email, "--email-verified"],
    )?;
    let user: serde_json::Value = serde_json::from_str(out.trim())
        .map_err(|e| format!("`latchkey users add` printed no JSON ({e}): {out}"))?;
    user["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("`latchkey users add` printed no id: {user}"))
}

/// `latchkey clients create --role ROLE --name NAME OPTIONS…`: returns (client_id,
/// client_secret).
fn create_client(
    bin: &Path,
    global: &[String],
    role: &str,
    name: &str,
    options: &[&str],
) -> Result<(String, String), String> {
    let out = server::command(bin, global)
        .args(["clients", "create", "--role", role, "--name", name])
        .args(options)
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`latchkey clients create` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "`latchkey clients create` printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )
    })?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("`latchkey clients create` printed no {k}: {v}"))
    };
    Ok((field("client_id")?, field("client_secret")?))
}

fn basic_auth(id: &str, secret: &str) -> HeaderValue {
    let creds = format!("{}:{}", http::encode(id), http::encode(secret));
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(creds)
    );
    HeaderValue::try_from(value).expect("base64 is a valid header value")
}

/// Plants an authenticated browser session of the idp role for `subject`; returns the cookie
/// token.
async fn create_session(database_url: &str, subject: &str) -> Result<String, String> {
    let store = Store::connect(database_url)
        .await
        .map_err(|e| format!("opening the store: {e}"))?;
    let token = latchkey_oidc::crypto::random_token();
    let now = unix_now();
    let result = store
        .create_session(&Session {
            id_hash: latchkey_oidc::crypto::sha256_hex(token.as_bytes()),
            issuer: IssuerId::from("idp"),
            subject: Subject::from(subject),
            auth_time: now,
            amr: vec!["phr".into()],
            created_at: now,
            expires_at: now + 3600,
            user_agent: "latchkey-bench".into(),
            ip: "127.0.0.1".into(),
            last_used_at: now,
        })
        .await;
    store.close().await;
    result.map_err(|e| format!("creating the session: {e}"))?;
    Ok(token)
}

struct ScenarioResult {
    name: String,
    /// The role of the server measured: `idp` or `tsidp`.
    role: &'static str,
    concurrency: usize,
    outcome: Outcome,
    cpu: Option<CpuSplit>,
    rss_kb: Option<u64>,
    hwm_kb: Option<u64>,
}

#[derive(Default)]
struct Report {
    backend: String,
    cold_start: Option<Duration>,
    warm_start: Option<Duration>,
    idle_rss_kb: Option<u64>,
    /// Cores busy on the machine just before the scenarios, with the server idle.
    background: Option<f64>,
    tsidp: TsidpReport,
    scenarios: Vec<ScenarioResult>,
}

/// The tsidp server, started once the idp scenarios are done and the idp server stopped.
#[derive(Default)]
struct TsidpReport {
    cold_start: Option<Duration>,
    warm_start: Option<Duration>,
    idle_rss_kb: Option<u64>,
    background: Option<f64>,
    /// WhoIs requests the stand-in tailscaled answered during the tsidp scenario.
    whois_lookups: Option<usize>,
}

async fn run(args: &Args, env: &mut Env, report: &mut Report) -> Result<(), String> {
    let bin = locate_server(args)?;
    std::fs::create_dir_all(&env.data_dir)
        .map_err(|e| format!("creating {}: {e}", env.data_dir.display()))?;
    let database_url = if args.postgres {
        let name = format!("latchkey_bench_{}", std::process::id());
        let version = create_pg_database(&name).await?;
        env.pg_database = Some(name.clone());
        report.backend = format!("PostgreSQL {version} (127.0.0.1:5432, fresh database {name})");
        format!("{PG_BASE_URL}/{name}")
    } else {
        report.backend =
            "SQLite (bundled; WAL, synchronous=NORMAL; file in a fresh temp dir)".into();
        format!("sqlite://{}/latchkey.db", env.data_dir.display())
    };
    let global = vec![
        "--data-dir".to_owned(),
        env.data_dir.display().to_string(),
        "--database-url".to_owned(),
        database_url.clone(),
    ];
    eprintln!(
        "bench: data dir {}, database {database_url}",
        env.data_dir.display()
    );

    let alg = |alg| {
        [
            "--redirect-uri",
            REDIRECT_URI,
            "--alg",
            alg,
            "--skip-consent",
        ]
    };
    let (es_id, es_secret) = create_client(&bin, &global, "idp", "bench ES256", &alg("ES256"))?;
    let (rs_id, rs_secret) = create_client(&bin, &global, "idp", "bench RS256", &alg("RS256"))?;
    let (ts_id, ts_secret) = create_client(&bin, &global, "tsidp", "bench", &alg("ES256"))?;
    // The person signed in by the idp flow: sessions of unknown people sign nobody in.
    let subject = create_user(&bin, &global, "bench")?;
    let session = create_session(&database_url, &subject).await?;

    // The idp role: discovery, JWKS, client_credentials and the code flow with a session.
    let log = env.data_dir.join("server.log");
    let (cold, warm) = start_role(&bin, &global, "idp", &[], &log, env).await?;
    report.cold_start = Some(cold);
    report.warm_start = Some(warm);
    tokio::time::sleep(SETTLE).await;
    let server = env.server.as_ref().expect("started above");
    let pid = server.pid();
    report.idle_rss_kb = server::status_kb(pid, "VmRSS");
    let target = server.target.clone();
    report.background = quiet_check().await;
    eprintln!(
        "bench: idp server pid {pid} on {}: cold start {cold:?}, warm start {warm:?}, \
         idle RSS {} kB",
        target.addr,
        report.idle_rss_kb.unwrap_or(0)
    );

    let c = args.concurrency;
    let mut widths = vec![c];
    if args.wide > 0 && args.wide != c {
        widths.push(args.wide);
    }
    let es_basic = basic_auth(&es_id, &es_secret);
    let simple = [
        ("discovery", Op::Get { path: DISCOVERY }),
        (
            "jwks",
            Op::Get {
                path: "/.well-known/jwks.json",
            },
        ),
        (
            "client_credentials ES256",
            Op::ClientCredentials {
                basic: es_basic.clone(),
            },
        ),
        (
            "client_credentials RS256",
            Op::ClientCredentials {
                basic: basic_auth(&rs_id, &rs_secret),
            },
        ),
    ];
    let mut plan = Vec::new();
    for (name, op) in simple {
        for &w in &widths {
            plan.push((name.to_owned(), w, op.clone()));
        }
    }
    let cookie =
        HeaderValue::try_from(format!("{SESSION_COOKIE}={session}")).map_err(|e| e.to_string())?;
    plan.push((
        "auth code flow (authorize → token → userinfo), ES256".to_owned(),
        c,
        Op::CodeFlow(Flow {
            client_id: es_id,
            basic: es_basic,
            cookie: Some(cookie),
            redirect_uri: REDIRECT_URI.to_owned(),
            subject: subject.clone(),
        }),
    ));
    run_plan(args, env, report, "idp", &target, pid, plan).await?;
    if let Some(mut idp) = env.server.take() {
        idp.stop()?;
    }

    // The tsidp role, alone on the machine: the silent flow, signed in by the stand-in
    // tailscaled (which answers for 127.0.0.1, any port: every connection of the driver).
    let tailscaled = env.tailscaled.insert(FakeTailscaled::start().await);
    tailscaled.set_peer(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        whois_body(
            TSIDP_USER_ID,
            "alice@example.com",
            "Alice",
            "alice-laptop",
            &["100.64.0.2"],
            vec![],
        ),
    );
    // The same person in the directory, so every token and userinfo answer also reads her
    // directory groups (the tsidp role enriches tailnet logins from it).
    for args in [
        &["users", "add", "alice", "--email", "alice@example.com"][..],
        &["groups", "add", "eng"],
        &["groups", "add-member", "eng", "alice"],
        &["groups", "set-claim", "eng", "shell", "bash"],
    ] {
        run_cli(&bin, &global, args)?;
    }
    let socket = tailscaled.socket_path().as_os_str().to_owned();
    let log = env.data_dir.join("tsidp.log");
    let envs = [(TAILSCALED_SOCKET_ENV, socket.as_os_str())];
    let (cold, warm) = start_role(&bin, &global, "tsidp", &envs, &log, env).await?;
    report.tsidp.cold_start = Some(cold);
    report.tsidp.warm_start = Some(warm);
    tokio::time::sleep(SETTLE).await;
    let server = env.server.as_ref().expect("started above");
    let pid = server.pid();
    report.tsidp.idle_rss_kb = server::status_kb(pid, "VmRSS");
    let target = server.target.clone();
    report.tsidp.background = quiet_check().await;
    eprintln!(
        "bench: tsidp server pid {pid} on {}: cold start {cold:?}, warm start {warm:?}, \
         idle RSS {} kB",
        target.addr,
        report.tsidp.idle_rss_kb.unwrap_or(0)
    );
    let plan = vec![(
        TSIDP_FLOW.to_owned(),
        c,
        Op::CodeFlow(Flow {
            client_id: ts_id.clone(),
            basic: basic_auth(&ts_id, &ts_secret),
            cookie: None,
            redirect_uri: REDIRECT_URI.to_owned(),
            subject: TSIDP_SUBJECT.to_owned(),
        }),
    )];
    if let Some(t) = &env.tailscaled {
        t.clear_requests();
    }
    run_plan(args, env, report, "tsidp", &target, pid, plan).await?;
    report.tsidp.whois_lookups = env.tailscaled.as_ref().map(|t| t.requests().len());
    Ok(())
}

/// Starts `latchkey … ROLE` twice, timing each from spawn to the first 200 on discovery: the
/// first start on the fresh database also creates the role's signing keys, the second is a
/// plain restart. Leaves the second running in `env.server`; returns (first, restart).
async fn start_role(
    bin: &Path,
    global: &[String],
    role: &str,
    envs: &[(&str, &OsStr)],
    log: &Path,
    env: &mut Env,
) -> Result<(Duration, Duration), String> {
    let mut cold = Server::spawn(server::free_port()?, bin, global, role, envs, log)?;
    let cold_start = cold.wait_ready().await?;
    cold.stop()?;
    drop(cold);
    let server = env.server.insert(Server::spawn(
        server::free_port()?,
        bin,
        global,
        role,
        envs,
        log,
    )?);
    let warm_start = server.wait_ready().await?;
    Ok((cold_start, warm_start))
}

/// Cores busy with other work over one second, with a warning if the machine is not quiet.
async fn quiet_check() -> Option<f64> {
    let load = server::background_load(Duration::from_secs(1)).await;
    if let Some(load) = load.filter(|l| *l > 0.2) {
        eprintln!(
            "bench: warning: {load:.2} cores were busy with other work before the run; \
             the figures will be lower than on a quiet machine"
        );
    }
    load
}

/// Reads `/metrics` every `every`, like a Prometheus scraper, until aborted.
async fn scrape_metrics(target: http::Target, every: Duration) {
    // Bounded anyway: at most a day's worth of scrapes at one a second.
    for _ in 0..86_400 {
        tokio::time::sleep(every).await;
        let result = match http::Conn::open(target.addr).await {
            Ok(mut conn) => conn.send(target.get("/metrics")).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(r) if r.status.is_success() => {}
            Ok(r) => eprintln!("bench: warning: /metrics: {}", r.describe()),
            Err(e) => eprintln!("bench: warning: /metrics: {e}"),
        }
    }
}

/// Runs each scenario of `plan` against the server in `env.server` (role `role`, process
/// `pid`), reading `/metrics` meanwhile if asked to.
async fn run_plan(
    args: &Args,
    env: &mut Env,
    report: &mut Report,
    role: &'static str,
    target: &http::Target,
    pid: u32,
    plan: Vec<(String, usize, Op)>,
) -> Result<(), String> {
    let scraper = args
        .scrape_metrics
        .map(|secs| tokio::spawn(scrape_metrics(target.clone(), Duration::from_secs(secs))));
    let result = run_scenarios(args, env, report, role, target, pid, plan).await;
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    result
}

async fn run_scenarios(
    args: &Args,
    env: &mut Env,
    report: &mut Report,
    role: &'static str,
    target: &http::Target,
    pid: u32,
    plan: Vec<(String, usize, Op)>,
) -> Result<(), String> {
    let duration = Duration::from_secs(args.seconds);
    for (name, concurrency, op) in plan {
        eprintln!("bench: {name} × {concurrency} for {duration:?} …");
        let probe = CpuProbe::start(pid);
        let outcome = load::run(target, op, concurrency, duration).await?;
        let cpu = probe.and_then(|p| p.split());
        let server = env.server.as_mut().expect("running");
        server.check_running()?;
        let result = ScenarioResult {
            name,
            role,
            concurrency,
            cpu,
            rss_kb: server::status_kb(pid, "VmRSS"),
            hwm_kb: server::status_kb(pid, "VmHWM"),
            outcome,
        };
        eprintln!(
            "bench:   {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            result.outcome.rate(result.outcome.total.count),
            result.outcome.total.p50_ms,
            result.outcome.total.p99_ms,
            result.outcome.error_count()
        );
        report.scenarios.push(result);
    }
    Ok(())
}

/// `total(cpu)` divided by the scenario's successful operations (requests or flows).
fn per_op(s: &ScenarioResult, total: impl Fn(&CpuSplit) -> f64) -> String {
    match &s.cpu {
        Some(c) if s.outcome.total.count > 0 => {
            format!("{:.1}", total(c) / s.outcome.total.count as f64)
        }
        _ => "?".into(),
    }
}

fn mib(kb: Option<u64>) -> String {
    kb.map_or("?".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("?".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time.
fn utc(secs: u64) -> String {
    let [y, mo, d, h, mi, s] = latchkey_store::utc_parts(secs as i64);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("unknown CPU");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} CPUs (nproc), {model}, {:.1} GiB RAM, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

fn render(args: &Args, report: &Report) -> String {
    let mut out = String::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let short = if args.postgres {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let _ = writeln!(out, "## Latchkey load test on {short}\n");
    let _ = writeln!(out, "- Date: {}", utc(now));
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- Backend: {}", report.backend);
    let _ = writeln!(
        out,
        "- Driver: {} runtime thread(s), hyper HTTP/1.1, one keep-alive connection per worker, \
         closed loop, {} s per scenario, 127.0.0.1 only",
        args.driver_threads, args.seconds
    );
    let _ = writeln!(
        out,
        "- /metrics scraped during the scenarios: {}",
        args.scrape_metrics
            .map_or("no".into(), |s| format!("every {s} s"))
    );
    let _ = writeln!(
        out,
        "- Start-up to first 200 on discovery: {} on the fresh database (creates the signing keys), \
         {} on restart",
        ms(report.cold_start),
        ms(report.warm_start)
    );
    let _ = writeln!(
        out,
        "- Idle RSS after start-up: {}",
        mib(report.idle_rss_kb)
    );
    let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
    let _ = writeln!(
        out,
        "- Background load (cores busy with other work during 1 s before the scenarios): {} \
         (before the idp scenarios), {} (before the tsidp scenario)",
        load(report.background),
        load(report.tsidp.background)
    );
    let t = &report.tsidp;
    let _ = writeln!(
        out,
        "- tsidp server (`latchkey tsidp`, same database, run after the idp scenarios with the \
         idp server stopped): first 200 on discovery {} after its first start (creates the \
         tsidp role's signing keys), {} on restart; idle RSS {}",
        ms(t.cold_start),
        ms(t.warm_start),
        mib(t.idle_rss_kb)
    );
    let _ = writeln!(
        out,
        "- Stand-in tailscaled (`latchkey_testkit::FakeTailscaled`, in the driver process: its \
         CPU counts as driver CPU) answering WhoIs for 127.0.0.1 as user {TSIDP_USER_ID}; the \
         server caches an answer 5 s per caller address, and the stand-in answered {} WhoIs \
         requests during the tsidp scenario",
        t.whois_lookups.map_or("?".into(), |n| n.to_string())
    );
    let peak = |role: &str| {
        report
            .scenarios
            .iter()
            .filter(|s| s.role == role)
            .filter_map(|s| s.hwm_kb)
            .max()
    };
    let _ = writeln!(
        out,
        "- Peak RSS (VmHWM) over all scenarios: {} (idp server), {} (tsidp server)\n",
        mib(peak("idp")),
        mib(peak("tsidp"))
    );

    let _ = writeln!(
        out,
        "| scenario | concurrency | req/s | p50 ms | p99 ms | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for s in &report.scenarios {
        let o = &s.outcome;
        let errors = o.error_count();
        let unit = if o.steps.is_empty() { "" } else { " (flows/s)" };
        let flag = if errors > 0 { " **ERRORS**" } else { "" };
        let _ = writeln!(
            out,
            "| {}{unit}{flag} | {} | {:.0} | {:.2} | {:.2} | {errors} |",
            s.name,
            s.concurrency,
            o.rate(o.total.count),
            o.total.p50_ms,
            o.total.p99_ms
        );
        for (step, l) in &o.steps {
            let _ = writeln!(
                out,
                "| ↳ {step} | {} | {:.0} | {:.2} | {:.2} | |",
                s.concurrency,
                o.rate(l.count),
                l.p50_ms,
                l.p99_ms
            );
        }
    }

    let _ = writeln!(
        out,
        "\nCPU during each scenario, in cores (the machine has {} CPUs); *other* is everything \
         else busy on the machine (the database server, kernel work not charged to a process, \
         other jobs). The server is the idp server, except for the tsidp flow, where it is the \
         tsidp server and the driver's CPU includes the stand-in tailscaled. *Per op* divides \
         the server's CPU time and its threads' context switches by the successful requests \
         (flows for the flows). RSS is the server's after the scenario; VmHWM is its peak since \
         start.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        out,
        "| scenario | concurrency | server CPU | driver CPU | other CPU | idle | server CPU µs / op | server ctx switches / op | server RSS | server VmHWM | server CPU by thread |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for s in &report.scenarios {
        let cpu = |f: fn(&CpuSplit) -> f64| {
            s.cpu
                .as_ref()
                .map_or("?".into(), |c| format!("{:.2}", f(c)))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.concurrency,
            cpu(|c| c.server),
            cpu(|c| c.driver),
            cpu(|c| c.other),
            cpu(|c| c.idle),
            per_op(s, |c| c.server * s.outcome.elapsed.as_secs_f64() * 1e6),
            per_op(s, |c| c.server_switches as f64),
            mib(s.rss_kb),
            mib(s.hwm_kb),
            s.cpu.as_ref().map_or("?".into(), |c| c
                .server_threads
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "))
        );
    }

    let failing: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| s.outcome.error_count() > 0)
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\n### Errors\n");
        for s in failing {
            let _ = writeln!(out, "- {} × {}:", s.name, s.concurrency);
            for (e, n) in &s.outcome.errors {
                let _ = writeln!(out, "  - {n} × `{}`", e.replace('`', "'"));
            }
        }
    }
    out
}

/// Runs `work` to its end, or until Ctrl-C.
fn until_interrupted(
    runtime: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    runtime.block_on(async {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
        }
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.driver_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.driver_threads);
        b
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.proxy {
        return proxy::main(&args, &runtime);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut env = Env {
        data_dir: std::env::temp_dir()
            .join(format!("latchkey-bench-{}-{nanos:x}", std::process::id())),
        pg_database: None,
        server: None,
        tailscaled: None,
    };
    let mut report = Report::default();
    let result = until_interrupted(&runtime, run(&args, &mut env, &mut report));
    runtime.block_on(env.cleanup());
    if !report.scenarios.is_empty() || result.is_ok() {
        print!("{}", render(&args, &report));
    }
    match result {
        Ok(()) if report.scenarios.iter().any(|s| s.outcome.error_count() > 0) => {
            eprintln!("bench: finished, but some requests failed (see the Errors section)");
            ExitCode::FAILURE
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
