//! Authentication pieces outside the HTTP layer: password hashing and the brute-force guard.

pub mod password;

use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::AuthSettings;
use crate::domain::throttle::{Policy, RateLimit, Throttle, client_network};

pub use password::Passwords;

const MAX_WAIT_MS: u64 = 3_600_000;

/// Sign-in attempts per account and per client address, and requests that send mail per address.
pub struct Guard {
    accounts: Mutex<Throttle<String>>,
    addresses: Mutex<Throttle<IpAddr>>,
    mailers: Mutex<Throttle<IpAddr>>,
    widget: Mutex<RateLimit<IpAddr>>,
}

/// Must wait this many milliseconds before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub u64);

impl Guard {
    pub fn new(settings: &AuthSettings) -> Guard {
        let base_wait_ms = u64::try_from(settings.lockout_wait.as_millis()).unwrap_or(u64::MAX);
        let per_account = Policy { free_attempts: settings.lockout_attempts, base_wait_ms, max_wait_ms: MAX_WAIT_MS };
        let per_address = Policy { free_attempts: settings.lockout_attempts.saturating_mul(4), ..per_account };
        let mail = Policy { free_attempts: 5, base_wait_ms: 60_000, max_wait_ms: MAX_WAIT_MS };
        Guard {
            accounts: Mutex::new(Throttle::new(per_account)),
            addresses: Mutex::new(Throttle::new(per_address)),
            mailers: Mutex::new(Throttle::new(mail)),
            // 60 requests at once, then one a second: a chatting visitor polls every few seconds.
            widget: Mutex::new(RateLimit::new(60, 1000)),
        }
    }

    /// Counts a sign-in attempt against both the account and the address, or says how long to wait.
    /// A locked account refuses before the address is charged: hammering one locked account must
    /// not spend the budget of everyone behind the same address.
    pub fn begin_sign_in(&self, account: &str, address: IpAddr, now: u64) -> Result<(), Wait> {
        let account = account.to_owned();
        let mut accounts = lock(&self.accounts);
        if let Some(wait) = accounts.waiting(&account, now) {
            return Err(Wait(wait));
        }
        lock(&self.addresses).begin(&client_network(address), now).map_err(Wait)?;
        accounts.begin(&account, now).map_err(Wait)
    }

    /// The password was right but the second factor is still to come: that was not a guess.
    pub fn refund_sign_in(&self, account: &str, address: IpAddr) {
        lock(&self.accounts).refund(&account.to_owned());
        lock(&self.addresses).refund(&client_network(address));
    }

    /// The account starts afresh; the address only gets this attempt back. Its earlier failures
    /// stand: were they wiped, an insider signing into her own account every few guesses could
    /// spray other accounts from one address without ever waiting.
    pub fn signed_in(&self, account: &str, address: IpAddr) {
        lock(&self.accounts).succeed(&account.to_owned());
        lock(&self.addresses).refund(&client_network(address));
    }

    /// A public web-widget request from an address.
    pub fn begin_widget(&self, address: IpAddr, now: u64) -> Result<(), Wait> {
        lock(&self.widget).allow(&client_network(address), now).map_err(Wait)
    }

    /// Counts a request that may send mail (forgot password) from an address.
    pub fn begin_mail(&self, address: IpAddr, now: u64) -> Result<(), Wait> {
        lock(&self.mailers).begin(&client_network(address), now).map_err(Wait)
    }
}

/// A poisoned lock only means another request panicked mid-update; the counters are still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn a_success_does_not_wipe_the_address_failures_at_other_accounts() {
        let settings = Settings::defaults().auth;
        let guard = Guard::new(&settings);
        let address: IpAddr = [192, 0, 2, 7].into();
        let budget = settings.lockout_attempts * 4;
        let (mut guesses, mut now) = (0, 0);
        // Guesses at other accounts (a few each, under their own limit), her own sign-in between.
        let refused = loop {
            now += 1000;
            let victim = format!("victim{}@example.com", guesses % 20);
            if let Err(wait) = guard.begin_sign_in(&victim, address, now) {
                break wait;
            }
            guesses += 1;
            if guesses % 3 == 0 {
                guard.begin_sign_in("me@example.com", address, now).expect("her own sign-in is let in");
                guard.signed_in("me@example.com", address);
            }
            assert!(guesses <= budget, "{guesses} guesses from one address were never refused");
        };
        assert!(refused.0 > 0);
        assert_eq!(guesses, budget, "the address's budget counts every failure");
    }

    #[test]
    fn an_ipv6_network_shares_one_budget_and_a_locked_account_does_not_charge_the_address() {
        let settings = Settings::defaults().auth;
        let guard = Guard::new(&settings);
        let budget = settings.lockout_attempts * 4;
        // Every guess from another address of the same /64.
        let refused = (0..=budget).position(|n| {
            let address: IpAddr = format!("2001:db8:7:7::{:x}", n + 1).parse().unwrap();
            guard.begin_sign_in(&format!("victim{}@example.com", n % 20), address, 1000).is_err()
        });
        assert_eq!(refused, Some(budget as usize), "one /64, one budget");
        let office: IpAddr = [198, 51, 100, 4].into();
        for _ in 0..settings.lockout_attempts {
            guard.begin_sign_in("locked@example.com", office, 2000).unwrap();
        }
        for _ in 0..100 {
            assert!(guard.begin_sign_in("locked@example.com", office, 2000).is_err());
        }
        guard.begin_sign_in("colleague@example.com", office, 2000).expect("the office may still sign in");
    }
}
