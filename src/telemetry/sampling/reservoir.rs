//! A rule's reservoir: the quota per second X-Ray assigned this client, until
//! its TTL; before X-Ray assigns one (or after it lapses) one request a second
//! is borrowed, if the rule has a reservoir at all. Lock-free: each window is
//! one atomic word, the second in the high half and the count in the low.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Where a request's reservoir sample came from, if it got one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Take {
    Quota,
    Borrowed,
    Empty,
}

#[derive(Debug, Default)]
pub(super) struct Reservoir {
    /// The rule's `ReservoirSize` is above zero: it may borrow.
    can_borrow: AtomicBool,
    /// X-Ray's `ReservoirQuota`, per second.
    quota: AtomicU64,
    /// The quota's TTL, in epoch milliseconds (0: none assigned).
    quota_until_ms: AtomicU64,
    quota_window: Window,
    borrow_window: Window,
}

impl Reservoir {
    #[cfg(test)]
    pub(super) fn new(reservoir_size: u64) -> Self {
        let reservoir = Self::default();
        reservoir.set_size(reservoir_size);
        reservoir
    }

    /// A new `ReservoirSize` from the rules.
    pub(super) fn set_size(&self, reservoir_size: u64) {
        self.can_borrow.store(reservoir_size > 0, Relaxed);
    }

    /// A quota from `GetSamplingTargets`, valid until `until_ms`.
    pub(super) fn assign(&self, quota: u64, until_ms: u64) {
        self.quota.store(quota, Relaxed);
        self.quota_until_ms.store(until_ms, Relaxed);
    }

    pub(super) fn take(&self, now_ms: u64) -> Take {
        let second = now_ms / 1000;
        if now_ms < self.quota_until_ms.load(Relaxed) {
            return match self.quota_window.take(second, self.quota.load(Relaxed)) {
                true => Take::Quota,
                false => Take::Empty,
            };
        }
        match self.can_borrow.load(Relaxed) && self.borrow_window.take(second, 1) {
            true => Take::Borrowed,
            false => Take::Empty,
        }
    }
}

/// Counts what was taken in the current second.
#[derive(Debug, Default)]
pub(super) struct Window(AtomicU64);

impl Window {
    /// One more in `second`, if fewer than `limit` were taken in it.
    pub(super) fn take(&self, second: u64, limit: u64) -> bool {
        let second = second & 0xffff_ffff;
        let mut current = self.0.load(Relaxed);
        loop {
            let taken = match current >> 32 == second {
                true => current & 0xffff_ffff,
                false => 0,
            };
            if taken >= limit.min(0xffff_ffff) {
                return false;
            }
            let next = (second << 32) | (taken + 1);
            match self
                .0
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn taken(r: &Reservoir, now_ms: u64, n: usize) -> Vec<Take> {
        (0..n).map(|_| r.take(now_ms)).collect()
    }

    #[test]
    fn borrows_one_a_second_until_a_quota_is_assigned() {
        let r = Reservoir::new(5);
        assert_eq!(taken(&r, T0, 3), [Take::Borrowed, Take::Empty, Take::Empty]);
        assert_eq!(taken(&r, T0 + 999, 1), [Take::Empty]);
        assert_eq!(taken(&r, T0 + 1000, 2), [Take::Borrowed, Take::Empty]);
    }

    #[test]
    fn a_rule_without_a_reservoir_never_borrows() {
        let r = Reservoir::new(0);
        assert_eq!(taken(&r, T0, 2), [Take::Empty, Take::Empty]);
    }

    #[test]
    fn spends_the_quota_each_second_until_its_ttl_then_borrows() {
        let r = Reservoir::new(1);
        r.assign(3, T0 + 2000);
        let three = [Take::Quota, Take::Quota, Take::Quota, Take::Empty];
        assert_eq!(taken(&r, T0, 4), three);
        assert_eq!(taken(&r, T0 + 1000, 4), three);
        assert_eq!(taken(&r, T0 + 2000, 2), [Take::Borrowed, Take::Empty]);
    }

    #[test]
    fn a_quota_of_zero_samples_nothing_from_the_reservoir() {
        let r = Reservoir::new(1);
        r.assign(0, T0 + 10_000);
        assert_eq!(taken(&r, T0, 1), [Take::Empty]);
    }

    #[test]
    fn threads_never_take_more_than_the_quota() {
        let r = std::sync::Arc::new(Reservoir::new(1));
        r.assign(100, T0 + 10_000);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| r.take(T0 + 500) == Take::Quota)
                        .count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100);
    }
}
