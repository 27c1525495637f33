//! Brute-force protection (R-ACC-3): each account and each client address has a budget of
//! attempts; past it, further attempts wait, doubling with each failure up to a cap. An attempt is
//! counted when it starts, not when it fails, so parallel guesses cannot all slip in before the
//! first failure is recorded. Pure: the caller keeps the map and passes the time.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// The key a client address counts under: an IPv4 address as it is (also when written as IPv6),
/// an IPv6 one by its /64, which one host or home usually holds whole (counted per address, a
/// /64 would give one client 2^64 fresh budgets).
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts allowed before waiting starts.
    pub free_attempts: u32,
    /// The first wait; each further failure doubles it.
    pub base_wait_ms: u64,
    pub max_wait_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Budget {
    attempts: u32,
    locked_until: u64,
    last_attempt: u64,
}

/// Attempts by key (an account, an address).
#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    budgets: HashMap<K, Budget>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Throttle { policy, budgets: HashMap::new() }
    }

    /// Starts an attempt: `Err(wait_ms)` if the key must wait, otherwise the attempt is counted.
    pub fn begin(&mut self, key: &K, now: u64) -> Result<(), u64> {
        self.forget_stale(now);
        let policy = self.policy;
        let budget = self.budgets.entry(key.clone()).or_default();
        // Quiet for twice the longest wait: old failures are forgiven (an office behind one address
        // is not locked out for good by a year of typos), the same horizon `forget_stale` uses.
        if budget.attempts > 0 && now.saturating_sub(budget.last_attempt) >= quiet_horizon(&policy) {
            *budget = Budget::default();
        }
        if now < budget.locked_until {
            return Err(budget.locked_until - now);
        }
        budget.attempts += 1;
        budget.last_attempt = now;
        if budget.attempts >= policy.free_attempts {
            let doublings = (budget.attempts - policy.free_attempts).min(20);
            let wait = policy.base_wait_ms.saturating_mul(1 << doublings).min(policy.max_wait_ms);
            budget.locked_until = now.saturating_add(wait);
        }
        Ok(())
    }

    /// How long the key must still wait, without counting an attempt.
    pub fn waiting(&self, key: &K, now: u64) -> Option<u64> {
        let budget = self.budgets.get(key)?;
        let forgiven = now.saturating_sub(budget.last_attempt) >= quiet_horizon(&self.policy);
        (!forgiven && now < budget.locked_until).then(|| budget.locked_until - now)
    }

    /// Gives back the attempt just begun (it turned out not to be a guess, e.g. a right password
    /// that still needs its second factor). Lifts a wait only if that attempt started it.
    pub fn refund(&mut self, key: &K) {
        let free = self.policy.free_attempts;
        if let Some(budget) = self.budgets.get_mut(key) {
            budget.attempts = budget.attempts.saturating_sub(1);
            if budget.attempts < free {
                budget.locked_until = 0;
            }
        }
    }

    /// The attempt succeeded: the key starts afresh.
    pub fn succeed(&mut self, key: &K) {
        self.budgets.remove(key);
    }

    /// Drops keys idle for longer than the longest wait, so the map stays small.
    fn forget_stale(&mut self, now: u64) {
        if self.budgets.len() < 10_000 {
            return;
        }
        let horizon = quiet_horizon(&self.policy);
        self.budgets.retain(|_, budget| now.saturating_sub(budget.last_attempt) < horizon);
    }
}

/// How long a key must stay quiet for its failures to be forgotten.
fn quiet_horizon(policy: &Policy) -> u64 {
    policy.max_wait_ms.saturating_mul(2)
}

/// A token bucket per key: `burst` requests at once, refilled at one every `refill_ms`. For
/// public endpoints (the web widget), so one address cannot crowd out the others.
#[derive(Debug)]
pub struct RateLimit<K> {
    burst: u32,
    refill_ms: u64,
    buckets: HashMap<K, (f64, u64)>,
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    pub fn new(burst: u32, refill_ms: u64) -> Self {
        RateLimit { burst, refill_ms: refill_ms.max(1), buckets: HashMap::new() }
    }

    /// Takes one token, or says how many milliseconds until one is back.
    pub fn allow(&mut self, key: &K, now: u64) -> Result<(), u64> {
        if self.buckets.len() > 50_000 {
            let horizon = self.refill_ms.saturating_mul(u64::from(self.burst));
            self.buckets.retain(|_, (_, at)| now.saturating_sub(*at) < horizon);
        }
        let burst = f64::from(self.burst);
        let (tokens, at) = self.buckets.entry(key.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_sub(*at) as f64 / self.refill_ms as f64).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) * self.refill_ms as f64).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { free_attempts: 5, base_wait_ms: 60_000, max_wait_ms: 3_600_000 };

    #[test]
    fn five_attempts_then_a_wait_that_doubles() {
        let mut throttle = Throttle::new(POLICY);
        for _ in 0..5 {
            assert_eq!(throttle.begin(&"ana", 0), Ok(()));
        }
        assert_eq!(throttle.begin(&"ana", 1_000), Err(59_000));
        assert_eq!(throttle.begin(&"ana", 60_000), Ok(()), "the wait is over: one more try");
        assert_eq!(throttle.begin(&"ana", 60_001), Err(119_999), "and the next wait is twice as long");
        assert_eq!(throttle.begin(&"luis", 1_000), Ok(()), "other keys are not affected");
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_budget() {
        let mut throttle = Throttle::new(POLICY);
        let allowed = (0..50).filter(|_| throttle.begin(&"ana", 0).is_ok()).count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn a_refund_gives_back_one_attempt_only() {
        let mut throttle = Throttle::new(POLICY);
        for _ in 0..5 {
            throttle.begin(&"ana", 0).unwrap();
            throttle.refund(&"ana");
        }
        assert_eq!(throttle.begin(&"ana", 0), Ok(()), "refunded attempts do not lock");
        for _ in 0..4 {
            throttle.begin(&"ana", 0).unwrap();
        }
        assert!(throttle.begin(&"ana", 0).is_err(), "five real attempts still lock");
    }

    #[test]
    fn a_rate_limit_allows_a_burst_then_refills() {
        let mut limit = RateLimit::new(3, 1000);
        assert!((0..3).all(|_| limit.allow(&"a", 0).is_ok()));
        assert_eq!(limit.allow(&"a", 0), Err(1000));
        assert!(limit.allow(&"b", 0).is_ok(), "other keys are not affected");
        assert!(limit.allow(&"a", 1000).is_ok(), "one token back after a second");
        assert!(limit.allow(&"a", 1000).is_err());
    }

    #[test]
    fn success_resets_and_waits_are_capped() {
        let mut throttle = Throttle::new(POLICY);
        for _ in 0..4 {
            throttle.begin(&"ana", 0).unwrap();
        }
        throttle.succeed(&"ana");
        for _ in 0..5 {
            assert!(throttle.begin(&"ana", 0).is_ok());
        }
        let mut now = 0;
        for _ in 0..30 {
            now += 3_600_000;
            throttle.begin(&"ana", now).unwrap();
        }
        assert_eq!(throttle.begin(&"ana", now + 1), Err(3_600_000 - 1));
    }

    #[test]
    fn failures_are_forgiven_after_a_quiet_of_twice_the_longest_wait() {
        let mut fresh = Throttle::new(POLICY);
        for _ in 0..5 {
            fresh.begin(&"office", 0).unwrap();
        }
        assert!(fresh.begin(&"office", 1_000).is_err(), "locked after five");
        assert!(fresh.begin(&"office", 7_200_000).is_ok(), "two quiet hours later, a fresh start");
        for _ in 0..4 {
            assert!(fresh.begin(&"office", 7_200_000).is_ok(), "the whole budget back");
        }
        assert!(fresh.begin(&"office", 7_200_000).is_err());
    }
}
