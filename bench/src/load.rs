//! Scenarios: closed-loop workers, each with its own keep-alive connection, issuing one
//! operation after another until the time is up or the request budget is spent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use latchkey_oidc::crypto::random_token;
use latchkey_oidc::pkce::s256_challenge;
use serde::Deserialize;

use crate::http::{Conn, Target, encode, form, query_param};

/// No scenario sends more requests than this, however fast the server is.
pub const MAX_REQUESTS: u64 = 5_000_000;
/// Distinct error messages kept per scenario; the rest are counted together.
const MAX_ERROR_KINDS: usize = 20;

/// What a worker does in a loop.
#[derive(Clone)]
pub enum Op {
    /// GET `path`, expecting 200.
    Get { path: &'static str },
    /// GET `path` with this `Cookie` header, if any, expecting 200 and a body of `len` bytes
    /// (so a sign-in page or an error page in its place counts as a failure).
    Page {
        path: &'static str,
        cookie: Option<HeaderValue>,
        len: usize,
    },
    /// POST /token with grant_type=client_credentials, expecting 200 and an access token.
    ClientCredentials { basic: HeaderValue },
    /// authorize (with the session cookie, if any) → token → userinfo.
    CodeFlow(Flow),
}

#[derive(Clone)]
pub struct Flow {
    pub client_id: String,
    pub basic: HeaderValue,
    /// The idp role's session cookie; `None` for the tsidp role, which signs in whoever
    /// tailscaled says is connecting.
    pub cookie: Option<HeaderValue>,
    pub redirect_uri: String,
    pub subject: String,
}

impl Op {
    /// Names of the timed steps of one operation (one for single requests).
    pub fn steps(&self) -> &'static [&'static str] {
        match self {
            Op::Get { .. } | Op::Page { .. } | Op::ClientCredentials { .. } => &[],
            Op::CodeFlow(_) => &["GET /authorize", "POST /token (code)", "GET /userinfo"],
        }
    }

    /// HTTP requests per operation, charged against [`MAX_REQUESTS`].
    fn requests(&self) -> u64 {
        self.steps().len().max(1) as u64
    }

    async fn run(
        &self,
        conn: &mut Conn,
        target: &Target,
        steps: &mut [Vec<u32>],
    ) -> Result<(), String> {
        match self {
            Op::Get { path } => {
                let r = conn.send(target.get(path)).await?;
                if r.status != StatusCode::OK || r.body.is_empty() {
                    return Err(r.describe());
                }
                Ok(())
            }
            Op::Page { path, cookie, len } => {
                let mut req = target.request(Method::GET, path);
                if let Some(cookie) = cookie {
                    req = req.header(header::COOKIE, cookie.clone());
                }
                let r = conn
                    .send(crate::http::finish(req, Default::default()))
                    .await?;
                if r.status != StatusCode::OK || r.body.len() != *len {
                    return Err(format!("{} ({} bytes)", r.describe(), r.body.len()));
                }
                Ok(())
            }
            Op::ClientCredentials { basic } => {
                let req = form(
                    target
                        .request(Method::POST, "/token")
                        .header(header::AUTHORIZATION, basic.clone()),
                    "grant_type=client_credentials&scope=api".to_owned(),
                );
                let r = conn.send(req).await?;
                let token: TokenResponse = json_200(&r)?;
                if token.access_token.is_empty() || token.token_type != "Bearer" {
                    return Err(format!("unexpected token response: {}", r.describe()));
                }
                Ok(())
            }
            Op::CodeFlow(flow) => flow.run(conn, target, steps).await,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    sub: String,
}

fn json_200<'a, T: Deserialize<'a>>(r: &'a crate::http::Response) -> Result<T, String> {
    if r.status != StatusCode::OK {
        return Err(r.describe());
    }
    serde_json::from_slice(&r.body).map_err(|e| format!("{e}: {}", r.describe()))
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Flow {
    async fn run(
        &self,
        conn: &mut Conn,
        target: &Target,
        steps: &mut [Vec<u32>],
    ) -> Result<(), String> {
        let verifier = random_token();
        let state = random_token();
        let path = format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state={}\
             &nonce={}&code_challenge={}&code_challenge_method=S256",
            encode(&self.client_id),
            encode(&self.redirect_uri),
            state,
            random_token(),
            s256_challenge(&verifier),
        );
        let t = Instant::now();
        let mut req = target.request(Method::GET, &path);
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie.clone());
        }
        let r = conn
            .send(
                req.body(Default::default())
                    .expect("request parts are valid"),
            )
            .await
            .map_err(|e| format!("authorize: {e}"))?;
        if r.status != StatusCode::SEE_OTHER {
            return Err(format!("authorize: {}", r.describe()));
        }
        let location = r
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or("authorize: 303 without Location")?;
        if !location.starts_with(&self.redirect_uri) {
            return Err(format!("authorize: redirected to {location}"));
        }
        let code = query_param(location, "code")
            .ok_or_else(|| format!("authorize: no code in {location}"))?;
        if query_param(location, "state").as_deref() != Some(state.as_str()) {
            return Err(format!("authorize: state not returned in {location}"));
        }
        steps[0].push(micros(t.elapsed()));

        let t = Instant::now();
        let req = form(
            target
                .request(Method::POST, "/token")
                .header(header::AUTHORIZATION, self.basic.clone()),
            format!(
                "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
                encode(&code),
                encode(&self.redirect_uri),
                verifier
            ),
        );
        let r = conn.send(req).await.map_err(|e| format!("token: {e}"))?;
        let token: TokenResponse = json_200(&r).map_err(|e| format!("token: {e}"))?;
        if token.access_token.is_empty() || token.id_token.as_deref().is_none_or(str::is_empty) {
            return Err(format!("token: no access or ID token: {}", r.describe()));
        }
        steps[1].push(micros(t.elapsed()));

        let t = Instant::now();
        let bearer = HeaderValue::try_from(format!("Bearer {}", token.access_token))
            .map_err(|e| format!("token: access token unusable in a header: {e}"))?;
        let r = conn
            .send(
                target
                    .request(Method::GET, "/userinfo")
                    .header(header::AUTHORIZATION, bearer)
                    .body(Default::default())
                    .expect("request parts are valid"),
            )
            .await
            .map_err(|e| format!("userinfo: {e}"))?;
        let info: UserInfo = json_200(&r).map_err(|e| format!("userinfo: {e}"))?;
        if info.sub != self.subject {
            return Err(format!("userinfo: unexpected sub {:?}", info.sub));
        }
        steps[2].push(micros(t.elapsed()));
        Ok(())
    }
}

/// Shared stop conditions: a deadline and a request budget.
struct Limits {
    deadline: Instant,
    issued: AtomicU64,
}

impl Limits {
    fn admit(&self, requests: u64) -> bool {
        Instant::now() < self.deadline
            && self.issued.fetch_add(requests, Ordering::Relaxed) + requests <= MAX_REQUESTS
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    /// Latency of each successful operation, µs.
    total: Vec<u32>,
    /// Latency of each successful step, µs, per step.
    steps: Vec<Vec<u32>>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, message: String) {
        let kinds = self.errors.len();
        match self.errors.get_mut(&message) {
            Some(n) => *n += 1,
            None if kinds < MAX_ERROR_KINDS => {
                self.errors.insert(message, 1);
            }
            None => *self.errors.entry("(other errors)".into()).or_default() += 1,
        }
    }
}

async fn worker(mut conn: Conn, op: Arc<Op>, target: Target, limits: Arc<Limits>) -> Tally {
    let mut tally = Tally {
        steps: vec![Vec::new(); op.steps().len()],
        ..Tally::default()
    };
    while limits.admit(op.requests()) {
        let t = Instant::now();
        match op.run(&mut conn, &target, &mut tally.steps).await {
            Ok(()) => tally.total.push(micros(t.elapsed())),
            Err(e) => {
                tally.error(e);
                // Do not spin if the server is gone; the deadline still bounds the loop.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    tally
}

/// Latency percentiles of a set of samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<u32>) -> Latency {
        samples.sort_unstable();
        let at = |p: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            f64::from(samples[rank.clamp(1, samples.len()) - 1]) / 1000.0
        };
        Latency {
            count: samples.len() as u64,
            p50_ms: at(50.0),
            p99_ms: at(99.0),
        }
    }
}

pub struct Outcome {
    pub elapsed: Duration,
    /// Successful operations.
    pub total: Latency,
    pub steps: Vec<(&'static str, Latency)>,
    pub errors: BTreeMap<String, u64>,
}

impl Outcome {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn rate(&self, count: u64) -> f64 {
        count as f64 / self.elapsed.as_secs_f64()
    }
}

/// Opens `concurrency` connections, then runs `op` on each for `duration`.
pub async fn run(
    target: &Target,
    op: Op,
    concurrency: usize,
    duration: Duration,
) -> Result<Outcome, String> {
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(target.addr).await?);
    }
    let op = Arc::new(op);
    let start = Instant::now();
    let limits = Arc::new(Limits {
        deadline: start + duration,
        issued: AtomicU64::new(0),
    });
    let workers: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(worker(conn, op.clone(), target.clone(), limits.clone())))
        .collect();
    let mut tallies = Vec::with_capacity(workers.len());
    for w in workers {
        tallies.push(w.await.map_err(|e| format!("worker failed: {e}"))?);
    }
    let elapsed = start.elapsed();

    let mut total = Vec::new();
    let mut steps = vec![Vec::new(); op.steps().len()];
    let mut errors = BTreeMap::new();
    for t in tallies {
        total.extend(t.total);
        for (all, mine) in steps.iter_mut().zip(t.steps) {
            all.extend(mine);
        }
        for (e, n) in t.errors {
            *errors.entry(e).or_default() += n;
        }
    }
    Ok(Outcome {
        elapsed,
        total: Latency::of(total),
        steps: op
            .steps()
            .iter()
            .copied()
            .zip(steps.into_iter().map(Latency::of))
            .collect(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latency::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(l.count, 100);
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(Latency::of(vec![]).p99_ms, 0.0);
        assert_eq!(Latency::of(vec![7000]).p50_ms, 7.0);
    }
}
