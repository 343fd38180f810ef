//! How fast and when: a calls-per-second token bucket with ramp-up, and
//! calling hours in the residents' time zone.
//!
//! Time is wall-clock [`SystemTime`] passed in, never read: calling hours
//! are calendar rules (weekdays, holidays, DST), which a monotonic clock
//! cannot express, and tests drive it with virtual time.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday,
};
use chrono_tz::Tz;
use thiserror::Error;

/// Nanoseconds since the Unix epoch; times before it clamp to 0.
pub(crate) fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Inverse of [`nanos`].
pub(crate) fn from_nanos(ns: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Credit of one call: the bucket counts in milli-calls-per-second times
/// nanoseconds, so a rate like 2.5 cps paces exactly, with no float drift.
const TOKEN: u128 = 1_000 * 1_000_000_000;

/// Longest ramp-up honoured; bounds the integer arithmetic.
const MAX_RAMP: Duration = Duration::from_secs(86_400);

/// A token bucket whose rate grows linearly from 0 to its full rate over
/// the ramp-up, then stays there. It starts full, so the first call goes
/// at once.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Full rate in milli-calls per second.
    rate: u128,
    /// Ramp-up in nanoseconds.
    ramp: u128,
    capacity: u128,
    units: u128,
    /// Time of the first refill: the ramp starts there.
    start: Option<u64>,
    /// Cumulative credit at the last refill.
    credited: u128,
}

impl TokenBucket {
    /// A bucket for `calls_per_second` (0.001 to a million), holding up to
    /// `burst` calls (at least 1), ramping up over `ramp_up`.
    pub fn new(calls_per_second: f64, burst: u32, ramp_up: Duration) -> TokenBucket {
        let milli = (calls_per_second * 1000.0).round();
        // A NaN rate (a config typo) paces at the slowest rate, not zero:
        // zero would never dial and divide by zero below.
        let milli = if milli.is_nan() { 1.0 } else { milli };
        let rate = milli.clamp(1.0, 1e9) as u128;
        let capacity = u128::from(burst.max(1)) * TOKEN;
        TokenBucket {
            rate,
            ramp: ramp_up.min(MAX_RAMP).as_nanos(),
            capacity,
            units: capacity,
            start: None,
            credited: 0,
        }
    }

    /// Credit earned from the start to `elapsed` nanoseconds.
    fn credit(&self, elapsed: u128) -> u128 {
        if elapsed >= self.ramp {
            self.rate * self.ramp / 2 + self.rate * (elapsed - self.ramp)
        } else {
            self.rate * elapsed * elapsed / (2 * self.ramp)
        }
    }

    /// Adds the credit earned up to `now`.
    pub fn refill(&mut self, now: SystemTime) {
        let now = nanos(now);
        let start = *self.start.get_or_insert(now);
        let credit = self.credit(u128::from(now.saturating_sub(start)));
        let earned = credit.saturating_sub(self.credited);
        self.credited = self.credited.max(credit);
        self.units = (self.units + earned).min(self.capacity);
    }

    /// Takes one call's token if there is one (after [`refill`](Self::refill)).
    pub fn try_take(&mut self) -> bool {
        if self.units >= TOKEN {
            self.units -= TOKEN;
            true
        } else {
            false
        }
    }

    /// Whether a token is there (after [`refill`](Self::refill)).
    pub fn ready(&self) -> bool {
        self.units >= TOKEN
    }

    /// When the next token will be there, as of the last refill; `None`
    /// before the first refill (a token is there then).
    pub fn next_token(&self) -> Option<SystemTime> {
        let start = self.start?;
        if self.ready() {
            return None;
        }
        let target = self.credited + (TOKEN - self.units);
        let base = self.credit(self.ramp);
        let elapsed = if target > base {
            self.ramp + (target - base).div_ceil(self.rate)
        } else {
            // Inside the ramp: credit = rate * e^2 / (2 * ramp).
            let guess = ((target as f64) * 2.0 * (self.ramp as f64) / (self.rate as f64)).sqrt();
            let mut e = guess as u128;
            while self.credit(e) < target {
                e += 1;
            }
            while e > 0 && self.credit(e - 1) >= target {
                e -= 1;
            }
            e
        };
        let elapsed = u64::try_from(elapsed).unwrap_or(u64::MAX);
        Some(from_nanos(start.saturating_add(elapsed)))
    }
}

/// A daily calling window, such as 09:00–20:00. An end at or before the
/// start runs past midnight (`18:00-02:00`); such a window belongs to the
/// day it starts on, for weekdays and holidays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time (exclusive).
    pub end: NaiveTime,
}

/// A window that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("calling hours {0:?} are not HH:MM-HH:MM (for example 09:00-20:00)")]
pub struct WindowParseError(pub String);

impl FromStr for Window {
    type Err = WindowParseError;

    fn from_str(s: &str) -> Result<Window, WindowParseError> {
        let err = || WindowParseError(s.to_owned());
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| err());
        Ok(Window {
            start: time(a)?,
            end: time(b)?,
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// When residents may be called: windows on allowed weekdays in a time
/// zone, except holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallingHours {
    /// The residents' time zone.
    pub tz: Tz,
    /// Daily windows.
    pub windows: Vec<Window>,
    /// Weekdays on which windows open (of the day a window starts).
    pub weekdays: Vec<Weekday>,
    /// Dates on which no window opens.
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for CallingHours {
    /// Monday to Friday, 09:00–20:00 in Europe/Helsinki: the hours Finnish
    /// telemarketing practice keeps to.
    fn default() -> Self {
        CallingHours {
            tz: chrono_tz::Europe::Helsinki,
            windows: vec![Window {
                start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
                end: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
            }],
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            holidays: BTreeSet::new(),
        }
    }
}

/// Days searched ahead for the next open window; past that, never.
const SEARCH_DAYS: i64 = 800;

impl CallingHours {
    /// Any time, every day (for tests and inbound-only setups).
    pub fn always(tz: Tz) -> CallingHours {
        CallingHours {
            tz,
            windows: vec![Window {
                start: NaiveTime::MIN,
                end: NaiveTime::MIN,
            }],
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            holidays: BTreeSet::new(),
        }
    }

    /// The residents' local date at `t`.
    pub fn local_date(&self, t: SystemTime) -> NaiveDate {
        DateTime::<chrono::Utc>::from(t)
            .with_timezone(&self.tz)
            .date_naive()
    }

    fn day_allowed(&self, day: NaiveDate) -> bool {
        self.weekdays.contains(&day.weekday()) && !self.holidays.contains(&day)
    }

    /// The instant of local `at`. A time skipped by a DST change opens at
    /// the change; a repeated one takes its first (`first`) or last
    /// occurrence.
    fn instant(&self, at: NaiveDateTime, first: bool) -> u64 {
        let mut probe = at;
        for _ in 0..=180 {
            let found = match self.tz.from_local_datetime(&probe) {
                LocalResult::Single(t) => Some(t),
                LocalResult::Ambiguous(a, b) => Some(if first { a } else { b }),
                LocalResult::None => None,
            };
            if let Some(t) = found {
                return nanos(SystemTime::from(t.with_timezone(&chrono::Utc)));
            }
            probe += chrono::Duration::minutes(1);
        }
        u64::MAX
    }

    /// Open intervals `[start, end)` of windows starting on `day`.
    fn intervals(&self, day: NaiveDate) -> impl Iterator<Item = (u64, u64)> + '_ {
        let allowed = self.day_allowed(day);
        self.windows.iter().filter(move |_| allowed).map(move |w| {
            let start = self.instant(day.and_time(w.start), true);
            let end_day = if w.end > w.start {
                day
            } else {
                day.succ_opt().unwrap_or(day)
            };
            let end = self.instant(end_day.and_time(w.end), false);
            (start, end)
        })
    }

    /// Whether calls may start at `t`.
    pub fn is_open(&self, t: SystemTime) -> bool {
        self.open_interval(t).is_some()
    }

    /// The open window `[start, end)` that holds `t`, if any: a caller
    /// may skip the calendar arithmetic until `end`.
    pub fn open_interval(&self, t: SystemTime) -> Option<(SystemTime, SystemTime)> {
        let now = nanos(t);
        let today = self.local_date(t);
        [today.pred_opt(), Some(today)]
            .into_iter()
            .flatten()
            .find_map(|d| self.intervals(d).find(|&(s, e)| s <= now && now < e))
            .map(|(s, e)| (from_nanos(s), from_nanos(e)))
    }

    /// The first instant at or after `t` at which calls may start, or
    /// `None` if no window opens within two years (no weekday allowed, or
    /// every date a holiday).
    pub fn next_open(&self, t: SystemTime) -> Option<SystemTime> {
        if self.is_open(t) {
            return Some(t);
        }
        let now = nanos(t);
        let mut day = self.local_date(t).pred_opt()?;
        for _ in 0..SEARCH_DAYS {
            let best = self
                .intervals(day)
                .map(|(s, _)| s)
                .filter(|&s| s > now)
                .min();
            if let Some(s) = best {
                return Some(from_nanos(s));
            }
            day = day.succ_opt()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(secs)
    }

    #[test]
    fn bucket_paces_exactly() {
        let mut b = TokenBucket::new(2.5, 1, Duration::ZERO);
        b.refill(at(0));
        assert!(b.try_take());
        assert!(!b.try_take());
        assert_eq!(b.next_token(), Some(at(400)));
        b.refill(at(399));
        assert!(!b.ready());
        b.refill(at(400));
        assert!(b.try_take());
    }

    #[test]
    fn ramp_grows_linearly() {
        // 10 cps reached after 10 s: credit after t seconds is t^2/2 calls.
        let mut b = TokenBucket::new(10.0, 1, Duration::from_secs(10));
        b.refill(at(0));
        assert!(b.try_take());
        // One call's credit takes sqrt(2 * 1 / 1) s = 1.414 s at 1 cps/s.
        let next = b.next_token().unwrap();
        let d = next.duration_since(at(0)).unwrap();
        assert_eq!(d.as_millis(), 1414);
        b.refill(next);
        assert!(b.try_take());
    }

    #[test]
    fn window_parse() {
        let w: Window = "09:00-20:00".parse().unwrap();
        assert_eq!(w.to_string(), "09:00-20:00");
        assert!("9-20".parse::<Window>().is_err());
        assert!("".parse::<Window>().is_err());
    }
}
