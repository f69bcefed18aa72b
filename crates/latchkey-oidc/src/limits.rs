//! Rate limits per client address on the endpoints that can be abused: failed client
//! authentications (secret guessing), dynamic registration and device authorization requests
//! (database writes; a public client's id is no secret). Successful token traffic is never
//! slowed down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Limits {
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that exhausted their failure quota, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    device_authorizations: DefaultKeyedRateLimiter<IpAddr>,
}

/// Failed client authentications allowed per address per minute.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 20;
/// Dynamic registrations allowed per address per minute.
pub const REGISTRATIONS_PER_MINUTE: u32 = 10;
/// Device authorization requests (RFC 8628) allowed per address per minute.
pub const DEVICE_AUTHORIZATIONS_PER_MINUTE: u32 = 30;

const MAX_TRACKED: usize = 100_000;

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            auth_failures: RateLimiter::keyed(per_minute(AUTH_FAILURES_PER_MINUTE)),
            blocked: Mutex::new(HashMap::new()),
            registrations: RateLimiter::keyed(per_minute(REGISTRATIONS_PER_MINUTE)),
            device_authorizations: RateLimiter::keyed(per_minute(DEVICE_AUTHORIZATIONS_PER_MINUTE)),
        }
    }
}

impl Limits {
    /// How long `ip` must wait before authenticating again, if it is blocked.
    pub fn auth_blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let until = *blocked.get(&ip)?;
        let now = Instant::now();
        if until <= now {
            blocked.remove(&ip);
            return None;
        }
        Some(until - now)
    }

    /// Counts a failed client authentication from `ip`.
    pub fn record_auth_failure(&self, ip: IpAddr) {
        if let Err(not_until) = self.auth_failures.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            if blocked.len() >= MAX_TRACKED {
                let now = Instant::now();
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, Instant::now() + wait.max(Duration::from_secs(1)));
        }
        if self.auth_failures.len() >= MAX_TRACKED {
            self.auth_failures.retain_recent();
        }
    }

    /// Whether `ip` may register another client now.
    pub fn allow_registration(&self, ip: IpAddr) -> bool {
        if self.registrations.len() >= MAX_TRACKED {
            self.registrations.retain_recent();
        }
        self.registrations.check_key(&ip).is_ok()
    }

    /// Whether `ip` may ask for another device code now.
    pub fn allow_device_authorization(&self, ip: IpAddr) -> bool {
        if self.device_authorizations.len() >= MAX_TRACKED {
            self.device_authorizations.retain_recent();
        }
        self.device_authorizations.check_key(&ip).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_quota_of_failures_only_that_address() {
        let limits = Limits::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..AUTH_FAILURES_PER_MINUTE {
            assert!(limits.auth_blocked(a).is_none());
            limits.record_auth_failure(a);
        }
        assert!(
            limits.auth_blocked(a).is_none(),
            "the quota itself is allowed"
        );
        limits.record_auth_failure(a);
        assert!(limits.auth_blocked(a).is_some());
        assert!(limits.auth_blocked(b).is_none());
    }

    #[test]
    fn registrations_are_limited() {
        let limits = Limits::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..REGISTRATIONS_PER_MINUTE {
            assert!(limits.allow_registration(a));
        }
        assert!(!limits.allow_registration(a));
        assert!(limits.allow_device_authorization(a), "a quota of its own");
    }
}
