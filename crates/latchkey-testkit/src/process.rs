//! A server process started as an operator would start it (the test crate names the
//! program: this crate does not depend on the binary), read through its stderr.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a process may take to log what a test waits for.
const LOG_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a process may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A child process whose stderr lines are collected as they come. Killed when dropped.
pub struct Process {
    child: Child,
    stderr: Receiver<String>,
}

impl Process {
    /// Spawns `cmd` with stdout discarded and stderr read line by line.
    pub fn spawn(cmd: &mut Command) -> Process {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child,
            stderr: lines,
        }
    }

    /// The first JSON log line (`--log-format json`) from now on whose `message` satisfies
    /// `wanted`; panics after 90 s (eleven Node providers starting at once on two busy cores take
    /// more than 30), or when stderr closes first.
    pub fn wait_for_log(&self, wanted: impl Fn(&str) -> bool) -> Value {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && v["message"].as_str().is_some_and(&wanted)
                    {
                        return v;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no such log line within {LOG_TIMEOUT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("the process closed stderr first"),
            }
        }
    }

    /// The exit status, if the process ends within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the process") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the process wrote to stderr and nobody has read yet, up to its end (call it once
    /// the process has exited).
    pub fn rest_of_stderr(&self) -> String {
        let mut text = String::new();
        for line in self.stderr.iter() {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// SIGTERM, as a service manager stops it; the exit status (10 s at the most).
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        self.wait_exit(STOP_TIMEOUT)
            .expect("the process did not stop on SIGTERM")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
