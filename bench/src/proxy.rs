//! The auth proxy scenario (`--proxy`): GET / of a static 1 KiB page served by nginx,
//! measured three ways in one run with the same connections — straight to nginx, through
//! nginx's own `proxy_pass`, and through `latchkey proxy` with a signed-in session — once
//! with one nginx worker process and once with two.
//!
//! The proxy's session is got the way a browser gets it: Latchkey's idp (the same binary, a
//! second process) is the provider, the proxy is a client registered with the CLI, the idp
//! has a browser session planted in its store (as for the idp scenarios), and one sign-in goes
//! `/oauth2/start` → the idp's `/authorize` → the proxy's `/oauth2/callback`.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::HeaderValue;

use crate::http::Target;
use crate::load::{self, Op, Outcome};
use crate::nginx::{self, Nginx};
use crate::server::{self, CpuProbe, CpuSplit, Server, free_port};
use crate::sign_in::sign_in;
use crate::{Args, create_client, create_session, create_user, locate_server};

/// nginx worker processes of each phase: one (the usual comparison) and two (this machine's
/// cores, as many as the proxy's runtime may use).
const NGINX_WORKERS: [u32; 2] = [1, 2];
/// Unmeasured load before each measured run (connection pools, caches, CPU frequency).
const WARM_UP: Duration = Duration::from_secs(1);
/// How often the proxy's VmRSS is read during a run.
const RSS_EVERY: Duration = Duration::from_millis(20);

/// What must be stopped and removed at the end, whatever happened.
struct Env {
    data_dir: PathBuf,
    idp: Option<Server>,
    proxy: Option<Server>,
    nginx: Option<Nginx>,
}

impl Drop for Env {
    fn drop(&mut self) {
        for (name, server) in [
            ("latchkey proxy", self.proxy.take()),
            ("nginx", self.nginx.take().map(|n| n.master)),
            ("latchkey idp", self.idp.take()),
        ] {
            if let Some(mut s) = server
                && let Err(e) = s.stop()
            {
                eprintln!("warning: stopping {name}: {e}");
            }
        }
        if self.data_dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.data_dir)
        {
            eprintln!("warning: removing {}: {e}", self.data_dir.display());
        }
    }
}

/// One path measured.
struct Run {
    name: &'static str,
    outcome: Outcome,
    /// The proxy process as server, nginx (master and workers) as the extra processes.
    cpu: Option<CpuSplit>,
    /// The proxy's largest VmRSS sampled during the run, kB.
    proxy_rss_max_kb: u64,
}

/// The runs against one nginx.
struct Phase {
    workers: u32,
    background: Option<f64>,
    /// The proxy's RSS after sign-in, before any load.
    proxy_idle_rss_kb: Option<u64>,
    runs: Vec<Run>,
    proxy_hwm_kb: Option<u64>,
}

#[derive(Default)]
struct Report {
    nginx_version: String,
    phases: Vec<Phase>,
}

/// Runs the scenario in `runtime`, prints the report, and says how it went.
pub fn main(args: &Args, runtime: &tokio::runtime::Runtime) -> ExitCode {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut env = Env {
        data_dir: std::env::temp_dir().join(format!(
            "latchkey-bench-proxy-{}-{nanos:x}",
            std::process::id()
        )),
        idp: None,
        proxy: None,
        nginx: None,
    };
    let mut report = Report::default();
    let result = crate::until_interrupted(runtime, run(args, &mut env, &mut report));
    drop(env);
    if !report.phases.is_empty() {
        print!("{}", render(args, &report));
    }
    let failed: u64 = report
        .phases
        .iter()
        .flat_map(|p| &p.runs)
        .map(|r| r.outcome.error_count())
        .sum();
    match result {
        Ok(()) if failed > 0 => {
            eprintln!("bench: finished, but {failed} requests failed (see the Errors section)");
            ExitCode::FAILURE
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, env: &mut Env, report: &mut Report) -> Result<(), String> {
    report.nginx_version = nginx::version()?;
    let bin = locate_server(args)?;
    let idp_dir = env.data_dir.join("idp");
    let proxy_dir = env.data_dir.join("proxy");
    for d in [&idp_dir, &proxy_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    let idp_db = format!("sqlite://{}/latchkey.db", idp_dir.display());
    let idp_global = global(&idp_dir, &idp_db);
    let proxy_global = global(
        &proxy_dir,
        &format!("sqlite://{}/latchkey.db", proxy_dir.display()),
    );
    eprintln!("bench: data dir {}", env.data_dir.display());

    // The provider: a person, the proxy's client (the proxy's port is chosen now, since the
    // client's redirect URI names it), the person's browser session at the idp.
    let proxy_port = free_port()?;
    let callback = format!("http://127.0.0.1:{proxy_port}/oauth2/callback");
    let subject = create_user(&bin, &idp_global, "bench")?;
    let (client_id, client_secret) = create_client(
        &bin,
        &idp_global,
        "idp",
        "bench proxy",
        &["--redirect-uri", &callback, "--skip-consent"],
    )?;
    let idp_session = create_session(&idp_db, &subject).await?;
    let idp = env.idp.insert(Server::spawn(
        free_port()?,
        &bin,
        &idp_global,
        "idp",
        &[],
        &env.data_dir.join("idp.log"),
    )?);
    idp.wait_ready().await?;
    let idp_target = idp.target.clone();

    for workers in NGINX_WORKERS {
        // A fresh nginx and a fresh proxy in front of it for each phase.
        if let Some(mut p) = env.proxy.take() {
            p.stop()?;
        }
        if let Some(mut n) = env.nginx.take() {
            n.master.stop()?;
        }
        let nginx_dir = env.data_dir.join(format!("nginx-{workers}"));
        let nginx = env.nginx.insert(Nginx::start(&nginx_dir, workers).await?);
        let (static_port, pass_port) = (nginx.static_port, nginx.pass_port);
        let nginx_pids = nginx.pids();
        let upstream = format!("http://127.0.0.1:{static_port}/");
        let issuer = format!("http://{}", idp_target.addr);
        // oauth2-proxy's variables, as a deployment moving from oauth2-proxy would set them.
        let vars: [(&str, &OsStr); 6] = [
            ("OAUTH2_PROXY_OIDC_ISSUER_URL", issuer.as_ref()),
            ("OAUTH2_PROXY_CLIENT_ID", client_id.as_ref()),
            ("OAUTH2_PROXY_CLIENT_SECRET", client_secret.as_ref()),
            ("OAUTH2_PROXY_UPSTREAMS", upstream.as_ref()),
            ("OAUTH2_PROXY_EMAIL_DOMAINS", "*".as_ref()),
            ("OAUTH2_PROXY_COOKIE_SECURE", "false".as_ref()),
        ];
        let log = env.data_dir.join(format!("proxy-{workers}.log"));
        let proxy = env.proxy.insert(Server::spawn(
            proxy_port,
            &bin,
            &proxy_global,
            "proxy",
            &vars,
            &log,
        )?);
        proxy.wait_for("/ping").await?;
        let proxy_target = proxy.target.clone();
        let proxy_pid = proxy.pid();
        let cookie = sign_in(&proxy_target, &idp_target, &idp_session).await?;
        eprintln!(
            "bench: nginx with {workers} worker(s) on {static_port} (static) and {pass_port} \
             (proxy_pass); latchkey proxy pid {proxy_pid} on {proxy_port}; signed in"
        );

        let direct = Target::loopback(static_port);
        let pass = Target::loopback(pass_port);
        let page = |cookie: Option<HeaderValue>| Op::Page {
            path: "/",
            cookie,
            len: nginx::BODY_LEN,
        };
        let plan = [
            ("direct to nginx", &direct, page(None)),
            ("nginx proxy_pass", &pass, page(None)),
            ("latchkey proxy", &proxy_target, page(Some(cookie))),
        ];
        let mut phase = Phase {
            workers,
            background: crate::quiet_check().await,
            proxy_idle_rss_kb: server::status_kb(proxy_pid, "VmRSS"),
            runs: Vec::new(),
            proxy_hwm_kb: None,
        };
        for (name, target, op) in plan {
            let run = measure(args, name, target, op, proxy_pid, &nginx_pids).await?;
            env.proxy.as_mut().expect("started above").check_running()?;
            phase.runs.push(run);
        }
        phase.proxy_hwm_kb = server::status_kb(proxy_pid, "VmHWM");
        report.phases.push(phase);
    }
    Ok(())
}

fn global(dir: &Path, database_url: &str) -> Vec<String> {
    vec![
        "--data-dir".to_owned(),
        dir.display().to_string(),
        "--database-url".to_owned(),
        database_url.to_owned(),
    ]
}

/// Warms up, then measures `op` on `target` for `--seconds`, with the proxy's CPU and RSS and
/// nginx's CPU.
async fn measure(
    args: &Args,
    name: &'static str,
    target: &Target,
    op: Op,
    proxy_pid: u32,
    nginx_pids: &[u32],
) -> Result<Run, String> {
    let c = args.concurrency;
    let warm = load::run(target, op.clone(), c, WARM_UP).await?;
    if warm.error_count() > 0 {
        return Err(format!(
            "{name}: {} requests failed while warming up: {:?}",
            warm.error_count(),
            warm.errors
        ));
    }
    eprintln!("bench: {name} × {c} for {} s …", args.seconds);
    let rss_max = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let rss_max = rss_max.clone();
        async move {
            // Bounded by the abort below; also by a day of samples.
            for _ in 0..(86_400_000 / RSS_EVERY.as_millis() as u64) {
                if let Some(kb) = server::status_kb(proxy_pid, "VmRSS") {
                    rss_max.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(RSS_EVERY).await;
            }
        }
    });
    let probe = CpuProbe::start_with(proxy_pid, nginx_pids.to_vec());
    let outcome = load::run(target, op, c, Duration::from_secs(args.seconds)).await;
    let cpu = probe.and_then(|p| p.split());
    sampler.abort();
    let outcome = outcome?;
    eprintln!(
        "bench:   {:.0}/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
        outcome.rate(outcome.total.count),
        outcome.total.p50_ms,
        outcome.total.p99_ms,
        outcome.error_count()
    );
    Ok(Run {
        name,
        outcome,
        cpu,
        proxy_rss_max_kb: rss_max.load(Ordering::Relaxed),
    })
}

/// CPU time of `cores` over the run per successful request, µs.
fn us_per_request(run: &Run, cores: impl Fn(&CpuSplit) -> f64) -> Option<f64> {
    let n = run.outcome.total.count;
    let c = run.cpu.as_ref()?;
    (n > 0).then(|| cores(c) * run.outcome.elapsed.as_secs_f64() * 1e6 / n as f64)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("?".into(), |v| format!("{v:.digits$}"))
}

/// Spread of the *other* CPU (other jobs on the machine) between the runs of a phase above
/// which their comparison says more about those jobs than about the paths measured.
const OTHER_CPU_SPREAD: f64 = 0.25;

/// What the targets ask of one phase, from its runs.
struct Verdict {
    /// Largest minus smallest *other* CPU between the phase's runs, in cores.
    other_spread: f64,
    ratio: Option<f64>,
    added_p50_ms: Option<f64>,
    pass_added_p50_ms: Option<f64>,
    rss_max_kb: u64,
}

impl Phase {
    fn run(&self, name: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name == name)
    }

    fn verdict(&self) -> Verdict {
        let rate = |name| {
            self.run(name)
                .map(|r| r.outcome.rate(r.outcome.total.count))
        };
        let p50 = |name| self.run(name).map(|r| r.outcome.total.p50_ms);
        let (direct, pass, ours) = ("direct to nginx", "nginx proxy_pass", "latchkey proxy");
        let others: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| r.cpu.as_ref().map(|c| c.other))
            .collect();
        let spread = others.iter().copied().fold(f64::MIN, f64::max)
            - others.iter().copied().fold(f64::MAX, f64::min);
        Verdict {
            other_spread: spread.max(0.0),
            ratio: rate(ours).zip(rate(pass)).map(|(a, b)| a / b),
            added_p50_ms: p50(ours).zip(p50(direct)).map(|(a, b)| a - b),
            pass_added_p50_ms: p50(pass).zip(p50(direct)).map(|(a, b)| a - b),
            rss_max_kb: self.run(ours).map_or(0, |r| r.proxy_rss_max_kb),
        }
    }
}

fn render(args: &Args, report: &Report) -> String {
    let mut out = String::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let _ = writeln!(out, "## Latchkey auth proxy vs nginx\n");
    let _ = writeln!(out, "- Date: {}", crate::utc(now));
    let _ = writeln!(out, "- Machine: {}", crate::machine());
    let _ = writeln!(out, "- nginx: {}", report.nginx_version);
    let _ = writeln!(
        out,
        "- Request: `GET /` of a static {} B page (nginx `root`/`index`, sendfile, access log \
         off); checked: status 200 and exactly that many bytes",
        nginx::BODY_LEN
    );
    let _ = writeln!(
        out,
        "- Driver: {} runtime thread(s), hyper HTTP/1.1, {} keep-alive connections (closed \
         loop, one request in flight each), {} s per path after {} s of unmeasured warm-up, \
         127.0.0.1 only",
        args.driver_threads,
        args.concurrency,
        args.seconds,
        WARM_UP.as_secs()
    );
    let _ = writeln!(
        out,
        "- `latchkey proxy` (release build, `--log-level warn`, sessions in SQLite) in front \
         of the static server with one signed-in session (`/oauth2/start` → `latchkey idp` \
         `/authorize` → `/oauth2/callback`); the idp runs as a second, idle process"
    );
    let _ = writeln!(
        out,
        "- nginx `proxy_pass` to the same static server through `upstream {{ keepalive 32; }}`, \
         `proxy_http_version 1.1`, `proxy_set_header Connection \"\"`; one nginx serves both\n"
    );
    let _ = writeln!(
        out,
        "CPU in cores over each run (the machine has {} CPUs): *proxy* is `latchkey proxy`, \
         *nginx* its master and workers (the static server and, for proxy_pass, the proxy), \
         *other* everything else busy on the machine. µs / req divide CPU time by successful \
         requests. *proxy max RSS* is the largest VmRSS of `latchkey proxy` read every {} ms \
         during the run.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        RSS_EVERY.as_millis()
    );
    for phase in &report.phases {
        let _ = writeln!(
            out,
            "### nginx with {} worker process{} (background load before: {} cores; proxy \
             RSS idle after sign-in: {})\n",
            phase.workers,
            if phase.workers == 1 { "" } else { "es" },
            opt(phase.background, 2),
            crate::mib(phase.proxy_idle_rss_kb)
        );
        let _ = writeln!(
            out,
            "| path | req/s | p50 ms | p99 ms | errors | proxy CPU | nginx CPU | driver CPU | \
             other CPU | idle | proxy µs / req | nginx µs / req | proxy max RSS |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &phase.runs {
            let o = &r.outcome;
            let cpu = |f: fn(&CpuSplit) -> f64| opt(r.cpu.as_ref().map(f), 2);
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                o.rate(o.total.count),
                o.total.p50_ms,
                o.total.p99_ms,
                o.error_count(),
                cpu(|c| c.server),
                cpu(|c| c.extra),
                cpu(|c| c.driver),
                cpu(|c| c.other),
                cpu(|c| c.idle),
                opt(us_per_request(r, |c| c.server), 1),
                opt(us_per_request(r, |c| c.extra), 1),
                crate::mib(Some(r.proxy_rss_max_kb)),
            );
        }
        let v = phase.verdict();
        if v.other_spread > OTHER_CPU_SPREAD {
            let _ = writeln!(
                out,
                "\n**Not comparable**: other work on the machine took {:.2} cores more during \
                 one run of this phase than during another; the ratios below mix it in.",
                v.other_spread
            );
        }
        let _ = writeln!(
            out,
            "\n- latchkey proxy throughput / nginx proxy_pass: {} (target ≥ 80 %)",
            v.ratio
                .map_or("?".into(), |r| format!("{:.0} %", r * 100.0))
        );
        let _ = writeln!(
            out,
            "- added p50, latchkey proxy − direct: {} ms (target ≤ 0.3 ms); nginx proxy_pass − \
             direct: {} ms",
            opt(v.added_p50_ms, 3),
            opt(v.pass_added_p50_ms, 3)
        );
        let _ = writeln!(
            out,
            "- latchkey proxy RSS under load: max VmRSS sampled {}, VmHWM (peak since start) {} \
             (target ≤ 30 MB)\n",
            crate::mib(Some(v.rss_max_kb)),
            crate::mib(phase.proxy_hwm_kb)
        );
    }
    let failing: Vec<(u32, &Run)> = report
        .phases
        .iter()
        .flat_map(|p| p.runs.iter().map(move |r| (p.workers, r)))
        .filter(|(_, r)| r.outcome.error_count() > 0)
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "### Errors\n");
        for (workers, r) in failing {
            let _ = writeln!(out, "- {} (nginx × {workers}):", r.name);
            for (e, n) in &r.outcome.errors {
                let _ = writeln!(out, "  - {n} × `{}`", e.replace('`', "'"));
            }
        }
    }
    out
}
