//! Rate limits per caller address on what anonymous callers can repeat: ceremony starts and
//! finishes, one-time links. Answers carry `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// What is limited, each with its own quota.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Starting a passkey ceremony (cheap, stateless, but each answer is a fresh challenge).
    CeremonyStart,
    /// Finishing one (a signature check and database reads).
    CeremonyFinish,
    /// Opening a one-time link or entering a device code (guessing).
    Link,
}

pub struct Limits {
    start: DefaultKeyedRateLimiter<IpAddr>,
    finish: DefaultKeyedRateLimiter<IpAddr>,
    link: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(nz(per_minute)).allow_burst(nz(burst))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            start: RateLimiter::keyed(quota(60, 30)),
            finish: RateLimiter::keyed(quota(12, 10)),
            link: RateLimiter::keyed(quota(10, 10)),
        }
    }
}

impl Limits {
    /// `Err(wait)` when `ip` must wait before doing `action` again.
    pub fn check(&self, action: Action, ip: Option<IpAddr>) -> Result<(), Duration> {
        let Some(ip) = ip else { return Ok(()) };
        let limiter = match action {
            Action::CeremonyStart => &self.start,
            Action::CeremonyFinish => &self.finish,
            Action::Link => &self.link,
        };
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_quota() {
        let limits = Limits::default();
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        for _ in 0..10 {
            assert!(limits.check(Action::Link, a).is_ok());
        }
        let wait = limits.check(Action::Link, a).unwrap_err();
        assert!(wait > Duration::ZERO);
        assert!(limits.check(Action::Link, b).is_ok());
        assert!(limits.check(Action::CeremonyStart, a).is_ok());
    }
}
