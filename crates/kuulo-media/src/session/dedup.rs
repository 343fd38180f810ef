//! One report per key press when a gateway sends a key both as RFC 4733
//! events and as tones in the audio.
//!
//! Each report is placed as a span of arrival time: an RFC 4733 digit from
//! its end back over its duration, an in-band one from its detection back
//! over the jitter buffer's delay and the detector's minimum tone length.
//! A report of the same key from the other source whose span overlaps
//! (give or take a slack) is the same press; a press can pair only once,
//! so pressing the same key twice still gives two digits.

use std::time::{Duration, Instant};

use super::config::DtmfSource;

const REMEMBERED: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Report {
    digit: char,
    source: DtmfSource,
    start: Instant,
    end: Instant,
    paired: bool,
}

#[derive(Debug)]
pub(crate) struct Dedup {
    recent: [Option<Report>; REMEMBERED],
    next: usize,
    slack: Duration,
}

impl Dedup {
    pub(crate) fn new(slack: Duration) -> Self {
        Dedup {
            recent: [None; REMEMBERED],
            next: 0,
            slack,
        }
    }

    /// True if this report is a new press, false if it repeats one
    /// already reported by the other source.
    pub(crate) fn is_new(
        &mut self,
        digit: char,
        source: DtmfSource,
        start: Instant,
        end: Instant,
    ) -> bool {
        let lo = start.checked_sub(self.slack).unwrap_or(start);
        let hi = end + self.slack;
        for r in self.recent.iter_mut().flatten() {
            if r.digit == digit && r.source != source && !r.paired && r.start <= hi && lo <= r.end {
                r.paired = true;
                return false;
            }
        }
        self.recent[self.next] = Some(Report {
            digit,
            source,
            start,
            end,
            paired: false,
        });
        self.next = (self.next + 1) % REMEMBERED;
        true
    }
}
