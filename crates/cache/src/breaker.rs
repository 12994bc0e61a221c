//! A small circuit breaker for Redis: after `threshold` consecutive failures Redis is skipped for
//! `cooldown`; then one trial call is let through (half-open), whose outcome closes or re-opens
//! the breaker. Time is passed in, so the state machine is testable without sleeping.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial is in flight since `since`; if it never reports (its future was dropped),
    /// another trial is allowed after a cooldown.
    HalfOpen {
        since: Instant,
    },
}

/// What a caller observes of the breaker (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped.
    Open,
    /// One trial call is in flight.
    HalfOpen,
}

/// Consecutive-failure circuit breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `threshold` (at least 1) consecutive failures and stays
    /// open for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call may be made at `now`. An open breaker whose cooldown has passed lets
    /// exactly one trial through.
    pub fn allow(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } | State::HalfOpen { since: until } if now < until => false,
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen {
                    since: now + self.cooldown,
                };
                true
            }
        }
    }

    /// Record a successful call: the breaker closes.
    pub fn success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// Record a failed call at `now`; returns true when this failure opened the breaker.
    pub fn failure(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { failures } if failures + 1 < self.threshold => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                false
            }
            State::Closed { .. } | State::HalfOpen { .. } => {
                *state = State::Open {
                    until: now + self.cooldown,
                };
                true
            }
            State::Open { .. } => false,
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_millis(500);

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = CircuitBreaker::new(3, COOL);
        let t = Instant::now();
        assert!(b.allow(t));
        assert!(!b.failure(t));
        assert!(!b.failure(t));
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.failure(t), "the third failure opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow(t));
        assert!(!b.allow(t + COOL / 2));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = CircuitBreaker::new(2, COOL);
        let t = Instant::now();
        assert!(!b.failure(t));
        b.success();
        assert!(!b.failure(t), "the count started again");
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_lets_one_trial_through_and_closes_on_success() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        assert!(b.failure(t));
        let later = t + COOL;
        assert!(b.allow(later), "the trial");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(later), "only one trial at a time");
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(later));
    }

    #[test]
    fn a_failed_trial_reopens_for_another_cooldown() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        b.failure(t);
        let trial = t + COOL;
        assert!(b.allow(trial));
        assert!(b.failure(trial));
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow(trial + COOL / 2));
        assert!(b.allow(trial + COOL));
    }

    #[test]
    fn a_lost_trial_does_not_wedge_the_breaker() {
        let b = CircuitBreaker::new(1, COOL);
        let t = Instant::now();
        b.failure(t);
        assert!(b.allow(t + COOL));
        // The trial never reports; after another cooldown a new trial is allowed.
        assert!(!b.allow(t + COOL + COOL / 2));
        assert!(b.allow(t + COOL * 2));
    }
}
