//! Expiry: idle and absolute timeouts, browser-session versus persistent cookies, and when an
//! unchanged session is worth rewriting.
//!
//! Every deadline comes from one place ([`Expiry::next_expires_at`]): the store's TTL is the
//! record's `expires_at`, and a persistent cookie's `Max-Age` is the time left until then
//! ([`max_age_secs`]), so the browser and the server never disagree about when a session ends.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long a session lives. The configured policy's lifetime, or a per-session override set with
/// [`Session::set_expiry`](crate::Session::set_expiry) (e.g. "remember me").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// Seconds of inactivity after which the session ends (sliding).
    pub idle_timeout_secs: u64,
    /// Seconds after creation after which the session ends however active it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_timeout_secs: Option<u64>,
    /// `true`: the cookie carries `Max-Age` and survives a browser restart. `false`: a browser-session
    /// cookie, gone when the browser closes (the server-side deadlines still apply).
    #[serde(default)]
    pub persistent: bool,
}

impl Default for Expiry {
    /// One day idle, seven days absolute, browser-session cookie.
    fn default() -> Self {
        Expiry {
            idle_timeout_secs: 24 * 60 * 60,
            absolute_timeout_secs: Some(7 * 24 * 60 * 60),
            persistent: false,
        }
    }
}

impl Expiry {
    /// A persistent lifetime: the cookie survives browser restarts, and the session lasts `idle`
    /// without activity and at most `idle` after its creation however active it is. A lifetime
    /// without an absolute end is never a default: choose another end, or none, with
    /// [`with_absolute`](Self::with_absolute). For "remember me", prefer
    /// [`Session::remember`](crate::Session::remember), which takes both windows from the
    /// configuration and counts the end from the login.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_core::Expiry;
    ///
    /// let month = Expiry::persistent(Duration::from_secs(30 * 86_400));
    /// assert_eq!(month.absolute_timeout_secs, Some(30 * 86_400));
    /// let endless = month.with_absolute(None); // only when asked for
    /// assert_eq!(endless.absolute_timeout_secs, None);
    /// ```
    pub fn persistent(idle: Duration) -> Self {
        Expiry {
            idle_timeout_secs: idle.as_secs(),
            absolute_timeout_secs: Some(idle.as_secs()),
            persistent: true,
        }
    }

    /// This lifetime with another absolute end: `Some(limit)` after creation, or `None` for
    /// a session that lives as long as it is used within its idle window.
    pub fn with_absolute(self, absolute: Option<Duration>) -> Self {
        Expiry {
            absolute_timeout_secs: absolute.map(|limit| limit.as_secs()),
            ..self
        }
    }

    /// A browser-session lifetime with the given idle timeout and optional absolute timeout.
    pub fn browser_session(idle: Duration, absolute: Option<Duration>) -> Self {
        Expiry {
            idle_timeout_secs: idle.as_secs(),
            absolute_timeout_secs: absolute.map(|limit| limit.as_secs()),
            persistent: false,
        }
    }

    /// The absolute deadline of a session created at `created_at` (milliseconds).
    pub fn absolute_deadline(&self, created_at: u64) -> Option<u64> {
        self.absolute_timeout_secs
            .map(|secs| created_at.saturating_add(secs.saturating_mul(1000)))
    }

    /// The idle deadline after activity at `now`, capped by `absolute_deadline`.
    pub fn next_expires_at(&self, now: u64, absolute_deadline: Option<u64>) -> u64 {
        let idle = now.saturating_add(self.idle_timeout_secs.saturating_mul(1000));
        absolute_deadline.map_or(idle, |deadline| idle.min(deadline))
    }
}

/// The default remember-me windows: 30 days.
const REMEMBER_SECS: u64 = 30 * 24 * 60 * 60;

/// The configured expiry policy of one named session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryPolicy {
    /// Seconds of inactivity after which the session ends. Default: one day.
    pub idle_timeout_secs: u64,
    /// Seconds after creation after which the session ends regardless. Default: seven days.
    pub absolute_timeout_secs: Option<u64>,
    /// The idle window of a session that [`Session::remember`](crate::Session::remember) was
    /// called on ("remember me"; its cookie is persistent). Default: 30 days.
    pub remember_idle_secs: u64,
    /// How long after its login a remembered session ends however active it is (from its
    /// creation when it has no login). Default: 30 days.
    pub remember_absolute_secs: u64,
    /// Whether cookies are persistent (`Max-Age`) rather than browser-session. Default: `false`.
    pub persistent: bool,
    /// Whether a request that only reads the session extends its idle deadline. Default: `true`.
    pub reads_are_activity: bool,
    /// An unchanged session is rewritten (to slide its deadline) only when that moves the deadline
    /// by at least this many seconds, so busy sessions are not rewritten on every request.
    /// Default: 60.
    pub touch_after_secs: u64,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        let lifetime = Expiry::default();
        ExpiryPolicy {
            idle_timeout_secs: lifetime.idle_timeout_secs,
            absolute_timeout_secs: lifetime.absolute_timeout_secs,
            persistent: lifetime.persistent,
            remember_idle_secs: REMEMBER_SECS,
            remember_absolute_secs: REMEMBER_SECS,
            reads_are_activity: true,
            touch_after_secs: 60,
        }
    }
}

impl ExpiryPolicy {
    /// The lifetime new sessions get.
    pub fn lifetime(&self) -> Expiry {
        Expiry {
            idle_timeout_secs: self.idle_timeout_secs,
            absolute_timeout_secs: self.absolute_timeout_secs,
            persistent: self.persistent,
        }
    }

    /// The lifetime of a session remembered ([`Session::remember`](crate::Session::remember))
    /// with its login at `login_at`, for a session created at `created_at` (milliseconds): a
    /// persistent cookie, `remember_idle_secs` of idle window, and an end
    /// `remember_absolute_secs` after the login. An [`Expiry`] counts its absolute window from
    /// the session's creation, so the time from creation to login is added, in whole seconds
    /// (rounded down: the end comes no later than configured).
    ///
    /// ```
    /// use session_core::ExpiryPolicy;
    ///
    /// let policy = ExpiryPolicy { remember_idle_secs: 3_600, remember_absolute_secs: 86_400, ..ExpiryPolicy::default() };
    /// // Created at 0, logged in 10.5 s later.
    /// let remembered = policy.remembered(0, 10_500);
    /// assert!(remembered.persistent);
    /// assert_eq!(remembered.idle_timeout_secs, 3_600);
    /// assert_eq!(remembered.absolute_deadline(0), Some(10_000 + 86_400_000));
    /// ```
    pub fn remembered(&self, created_at: u64, login_at: u64) -> Expiry {
        let since_creation = login_at.saturating_sub(created_at) / 1000;
        Expiry {
            idle_timeout_secs: self.remember_idle_secs,
            absolute_timeout_secs: Some(since_creation.saturating_add(self.remember_absolute_secs)),
            persistent: true,
        }
    }

    /// Whether an unchanged session of lifetime `lifetime`, whose deadline is `expires_at`,
    /// should be rewritten to slide to `next` (the deadline it would get).
    ///
    /// The threshold is `touch_after_secs`, but never more than half the idle timeout: a
    /// threshold at or above the idle window would never slide it, and an active user would be
    /// logged out.
    pub fn wants_touch(&self, lifetime: &Expiry, expires_at: u64, next: u64) -> bool {
        let threshold_ms = self
            .touch_after_secs
            .saturating_mul(1000)
            .min(lifetime.idle_timeout_secs.saturating_mul(1000) / 2);
        self.reads_are_activity && next.saturating_sub(expires_at) >= threshold_ms
    }
}

/// The `Max-Age` (seconds, rounded up) of a persistent cookie for a record expiring at
/// `expires_at`, or `None` for a browser-session cookie.
pub(crate) fn max_age_secs(expiry: &Expiry, expires_at: u64, now: u64) -> Option<u64> {
    expiry
        .persistent
        .then(|| expires_at.saturating_sub(now).div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_deadline_is_capped_by_absolute() {
        let expiry =
            Expiry::browser_session(Duration::from_secs(10), Some(Duration::from_secs(15)));
        let deadline = expiry.absolute_deadline(0);
        assert_eq!(deadline, Some(15_000));
        assert_eq!(expiry.next_expires_at(0, deadline), 10_000);
        assert_eq!(expiry.next_expires_at(8_000, deadline), 15_000);
    }

    #[test]
    fn max_age_follows_the_same_deadline() {
        let persistent = Expiry::persistent(Duration::from_secs(60));
        let expires_at = persistent.next_expires_at(1_000, None);
        assert_eq!(max_age_secs(&persistent, expires_at, 1_000), Some(60));
        let browser = Expiry::default();
        assert_eq!(max_age_secs(&browser, expires_at, 1_000), None);
    }

    #[test]
    fn touch_waits_for_the_threshold_and_respects_read_policy() {
        let policy = ExpiryPolicy {
            touch_after_secs: 60,
            ..ExpiryPolicy::default()
        };
        let lifetime = policy.lifetime();
        assert!(!policy.wants_touch(&lifetime, 100_000, 159_999));
        assert!(policy.wants_touch(&lifetime, 100_000, 160_000));
        let writes_only = ExpiryPolicy {
            reads_are_activity: false,
            ..policy
        };
        assert!(!writes_only.wants_touch(&lifetime, 100_000, 900_000));
    }

    #[test]
    fn the_touch_threshold_stays_below_a_short_idle_window() {
        let policy = ExpiryPolicy {
            idle_timeout_secs: 2,
            touch_after_secs: 60,
            ..ExpiryPolicy::default()
        };
        let lifetime = policy.lifetime();
        // Half the 2-second window: a read 1 s after the last write slides it.
        assert!(policy.wants_touch(&lifetime, 2_000, 3_000));
        assert!(!policy.wants_touch(&lifetime, 2_000, 2_999));
        // A per-session lifetime's own window counts, not the policy's.
        let remembered = Expiry::persistent(Duration::from_secs(30 * 86_400));
        assert!(!policy.wants_touch(&remembered, 2_000, 3_000));
    }
}
