//! The shutdown budget: `SHUTDOWN_TIMEOUT_SECS` from the signal to the exit,
//! for the drain and both telemetry flushes together, so the process is gone
//! before ECS's `stopTimeout` (30 s) sends SIGKILL.
//!
//! The drain ends by 80 % of the budget, the span flush by 95 %, the metric
//! flush by 98 %; the rest is for the process to exit. Each step starts when
//! the one before ends, so time a step does not use goes to the next.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Budget {
    start: Instant,
    total: Duration,
}

impl Budget {
    /// A budget of `total` from now (the signal).
    pub fn starting_now(total: Duration) -> Self {
        Self {
            start: Instant::now(),
            total,
        }
    }

    /// When the drain gives up on requests still in flight.
    pub fn drain_until(&self) -> Instant {
        self.start + self.total * 4 / 5
    }

    /// When the span flush gives up.
    pub fn spans_until(&self) -> Instant {
        self.start + self.total * 19 / 20
    }

    /// When the metric flush gives up, leaving the rest to exit.
    pub fn deadline(&self) -> Instant {
        self.start + self.total * 49 / 50
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_leaves_five_seconds_for_the_flushes() {
        let budget = Budget::starting_now(Duration::from_secs(25));
        let at = |i: Instant| i - budget.start;
        assert_eq!(at(budget.drain_until()), Duration::from_secs(20));
        assert_eq!(at(budget.spans_until()), Duration::from_millis(23_750));
        assert_eq!(at(budget.deadline()), Duration::from_millis(24_500));
    }
}
