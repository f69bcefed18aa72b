//! The server under test as a child process, and what `/proc` says about processes.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http::{Conn, Target};

/// How long the server may take to answer its first discovery request.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub const DISCOVERY: &str = "/.well-known/openid-configuration";

/// A `latchkey` command with the global options every invocation shares, and no
/// `LATCHKEY_*` or `OAUTH2_PROXY_*` variables inherited from the caller's environment.
pub fn command(bin: &Path, global: &[String]) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("LATCHKEY_") || key_text.starts_with("OAUTH2_PROXY_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(global);
    cmd
}

/// A free loopback port: bind port 0, note the port, release it.
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

pub struct Server {
    child: Child,
    pub target: Target,
    log: PathBuf,
    spawned_at: Instant,
}

impl Server {
    /// Spawns `latchkey … --listen 127.0.0.1:PORT … ROLE` (`idp`, `tsidp` or `proxy`;
    /// `--listen` and `--public-url` apply to the role run) with these extra environment
    /// variables, logging to `log`. The caller picks the port ([`free_port`]), as the proxy's
    /// must be known before it starts: its client registration names it.
    pub fn spawn(
        port: u16,
        bin: &Path,
        global: &[String],
        role: &str,
        envs: &[(&str, &OsStr)],
        log: &Path,
    ) -> Result<Server, String> {
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = command(bin, global);
        cmd.args(["--listen", &addr])
            .args(["--public-url", &format!("http://{addr}")])
            .args(["--log-level", "warn", role])
            .envs(envs.iter().copied());
        Server::start(cmd, port, log)
    }

    /// Starts `cmd`, which is to listen on 127.0.0.1:`port`, with its output going to `log`.
    pub fn start(mut cmd: Command, port: u16, log: &Path) -> Result<Server, String> {
        let bin = cmd.get_program().to_owned();
        let out = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let spawned_at = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", Path::new(&bin).display()))?;
        Ok(Server {
            child,
            target: Target::loopback(port),
            log: log.to_owned(),
            spawned_at,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls discovery every millisecond; returns the time from spawn to the first 200.
    pub async fn wait_ready(&mut self) -> Result<Duration, String> {
        self.wait_for(DISCOVERY).await
    }

    /// Polls `path` every millisecond; returns the time from spawn to the first 200.
    pub async fn wait_for(&mut self, path: &str) -> Result<Duration, String> {
        loop {
            if let Ok(mut conn) = Conn::open(self.target.addr).await
                && let Ok(r) = conn.send(self.target.get(path)).await
                && r.status.is_success()
            {
                return Ok(self.spawned_at.elapsed());
            }
            self.check_running()?;
            if self.spawned_at.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "no 200 on {path} within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// An error with the end of the server's log if it has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("the server exited ({status})\n{}", self.log_tail())),
            Err(e) => Err(format!("waiting for the server: {e}")),
        }
    }

    /// The last lines of the server's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- server log (last lines) ---\n{tail}\n---")
    }

    /// SIGTERM, then wait; SIGKILL if it has not exited within [`STOP_TIMEOUT`].
    pub fn stop(&mut self) -> Result<ExitStatus, String> {
        if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child, not yet
        // reaped, so it cannot name another process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        self.child.wait().map_err(|e| e.to_string())?;
        Err(format!(
            "the server did not exit within {STOP_TIMEOUT:?} of SIGTERM and was killed"
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A `kB` field of `/proc/PID/status` (e.g. `VmRSS`, `VmHWM`), in kB.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The processes whose parent is `pid` (an nginx master's workers).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|text| {
                    // Field 4, the parent's id, follows the state after the command name.
                    let ppid = text.rsplit_once(") ")?.1.split_whitespace().nth(1)?;
                    ppid.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn process_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let fields: Vec<&str> = text.rsplit_once(") ")?.1.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// One thread of the server at one moment.
#[derive(Clone, Debug)]
pub struct ThreadSample {
    pub name: String,
    /// utime + stime, in clock ticks.
    pub ticks: u64,
    /// Voluntary and involuntary context switches.
    pub switches: u64,
}

/// Every thread of a process, by thread id.
pub fn threads(pid: u32) -> BTreeMap<u32, ThreadSample> {
    let mut threads = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (text.find('('), text.rfind(") ")) else {
            continue;
        };
        let name = text[open + 1..close].to_owned();
        let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
        let ticks = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let (Some(utime), Some(stime)) = (ticks(14), ticks(15)) else {
            continue;
        };
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        threads.insert(
            tid,
            ThreadSample {
                name,
                ticks: utime + stime,
                switches,
            },
        );
    }
    threads
}

/// Machine-wide CPU time from `/proc/stat`, in clock ticks summed over all CPUs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemTicks {
    pub total: u64,
    pub idle: u64,
    pub cpus: u32,
}

pub fn system_ticks() -> Option<SystemTicks> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let mut lines = text.lines();
    let values: Vec<u64> = lines
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    let cpus = lines
        .take_while(|l| l.starts_with("cpu"))
        .filter(|l| l[3..].starts_with(|c: char| c.is_ascii_digit()))
        .count() as u32;
    Some(SystemTicks { total, idle, cpus })
}

/// Cores busy on the whole machine over `window` (other jobs competing with the benchmark).
pub async fn background_load(window: Duration) -> Option<f64> {
    let before = system_ticks()?;
    tokio::time::sleep(window).await;
    let after = system_ticks()?;
    let total = after.total.saturating_sub(before.total);
    let idle = after.idle.saturating_sub(before.idle);
    (total > 0)
        .then(|| total.saturating_sub(idle) as f64 / total as f64 * f64::from(after.cpus.max(1)))
}

/// CPU use over an interval, in cores (1.0 = one CPU busy all the time).
#[derive(Clone, Debug, Default)]
pub struct CpuSplit {
    pub server: f64,
    /// The server's CPU by thread name (tokio workers, SQLite connection threads, …),
    /// busiest first; threads that exited during the interval are missing.
    pub server_threads: Vec<ThreadGroup>,
    /// Context switches of the server's threads (those alive at the end).
    pub server_switches: u64,
    pub driver: f64,
    /// The processes measured beside the server ([`CpuProbe::start_with`]; nginx in the
    /// proxy scenario), together.
    pub extra: f64,
    /// Everything else busy on the machine: the database, the kernel's other work, other jobs.
    pub other: f64,
    pub idle: f64,
}

/// The server's threads of one name (Linux keeps the first 15 bytes).
#[derive(Clone, Debug)]
pub struct ThreadGroup {
    pub name: String,
    /// CPU of all of them, in cores.
    pub cores: f64,
    /// How many used any CPU.
    pub threads: u32,
    /// CPU of the busiest one, in cores.
    pub busiest: f64,
}

impl std::fmt::Display for ThreadGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:.2}", self.name, self.cores)?;
        if self.threads > 1 {
            write!(
                f,
                " ({} threads, busiest {:.2})",
                self.threads, self.busiest
            )?;
        }
        Ok(())
    }
}

/// A snapshot to diff against later with [`CpuProbe::split`].
pub struct CpuProbe {
    server_pid: u32,
    server: u64,
    threads: BTreeMap<u32, ThreadSample>,
    driver: u64,
    extra_pids: Vec<u32>,
    extra: u64,
    system: SystemTicks,
}

/// utime + stime of these processes together (those that have exited count nothing).
fn ticks_of(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&p| process_ticks(Some(p))).sum()
}

impl CpuProbe {
    pub fn start(server_pid: u32) -> Option<CpuProbe> {
        CpuProbe::start_with(server_pid, Vec::new())
    }

    /// Also measures `extra_pids` together (an nginx master and its workers).
    pub fn start_with(server_pid: u32, extra_pids: Vec<u32>) -> Option<CpuProbe> {
        Some(CpuProbe {
            server_pid,
            server: process_ticks(Some(server_pid))?,
            threads: threads(server_pid),
            driver: process_ticks(None)?,
            extra: ticks_of(&extra_pids),
            extra_pids,
            system: system_ticks()?,
        })
    }

    pub fn split(&self) -> Option<CpuSplit> {
        let server = process_ticks(Some(self.server_pid))?.saturating_sub(self.server);
        let driver = process_ticks(None)?.saturating_sub(self.driver);
        let extra = ticks_of(&self.extra_pids).saturating_sub(self.extra);
        let system = system_ticks()?;
        // Per name: total ticks, threads that ran, ticks of the busiest one.
        let mut by_name: BTreeMap<String, (u64, u32, u64)> = BTreeMap::new();
        let mut switches = 0;
        for (tid, now) in threads(self.server_pid) {
            let before = self.threads.get(&tid);
            switches += now
                .switches
                .saturating_sub(before.map_or(0, |t| t.switches));
            let used = now.ticks.saturating_sub(before.map_or(0, |t| t.ticks));
            if used > 0 {
                let entry = by_name.entry(now.name).or_default();
                entry.0 += used;
                entry.1 += 1;
                entry.2 = entry.2.max(used);
            }
        }
        let total = system.total.saturating_sub(self.system.total);
        if total == 0 {
            return None;
        }
        let cores = |ticks: u64| ticks as f64 / total as f64 * f64::from(system.cpus.max(1));
        let mut server_threads: Vec<ThreadGroup> = by_name
            .into_iter()
            .map(|(name, (ticks, threads, busiest))| ThreadGroup {
                name,
                cores: cores(ticks),
                threads,
                busiest: cores(busiest),
            })
            .collect();
        server_threads.sort_by(|a, b| b.cores.total_cmp(&a.cores));
        let idle = system.idle.saturating_sub(self.system.idle);
        let busy = total.saturating_sub(idle);
        Some(CpuSplit {
            server: cores(server),
            server_threads,
            server_switches: switches,
            driver: cores(driver),
            extra: cores(extra),
            other: cores(busy.saturating_sub(server + driver + extra)),
            idle: cores(idle),
        })
    }
}
