//! Sending keys: RFC 4733 packets scheduled on the 20 ms send clock, and
//! tones written into the outgoing audio.

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::Duration;

use crate::dtmf::{DtmfPacket, DtmfPackets, DtmfSender, DtmfSenderConfig};
use crate::prompt::FRAME_SAMPLES;

/// Keys that may wait to be sent; more is a caller bug, refused rather
/// than grown so the queue never allocates after the first key.
pub(crate) const QUEUE_CAPACITY: usize = 32;
/// Peak of each of the two tones: about -14 dBFS, so the pair stays well
/// clear of clipping and of the detector's minimum level.
const TONE_AMPLITUDE: f32 = 6500.0;

fn tone_pair(key: char) -> Option<(f32, f32)> {
    const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    let (row, col) = match key.to_ascii_uppercase() {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => return None,
    };
    Some((LOW[row], HIGH[col]))
}

#[derive(Debug, Clone, Copy)]
struct Tone {
    low: f32,
    high: f32,
    done: u32,
    total: u32,
}

#[derive(Debug)]
struct Active {
    start_ts: u32,
    packets: Option<DtmfPackets>,
    next: Option<DtmfPacket>,
    tone: Option<Tone>,
}

#[derive(Debug)]
pub(crate) struct DtmfOut {
    queue: VecDeque<(char, bool, bool)>,
    sender: DtmfSender,
    duration: Duration,
    gap_ticks: u32,
    wait_ticks: u32,
    active: Option<Active>,
}

impl DtmfOut {
    /// `clock_rate` is the telephone-event clock, which RFC 4733 ties to
    /// the audio codec's: 8000 for G.711, 48000 for Opus.
    pub(crate) fn new(duration: Duration, gap: Duration, clock_rate: u32) -> Self {
        DtmfOut {
            // Reserved by the first key: most calls never send one.
            queue: VecDeque::new(),
            sender: DtmfSender::new(DtmfSenderConfig {
                clock_rate,
                // One packet per 20 ms send tick.
                interval: clock_rate / 50,
                ..DtmfSenderConfig::default()
            }),
            duration,
            gap_ticks: (gap.as_millis() / 20) as u32,
            wait_ticks: 0,
            active: None,
        }
    }

    /// Queues a key; false if the queue is full. The key must be valid.
    pub(crate) fn enqueue(&mut self, key: char, rfc: bool, inband: bool) -> bool {
        if self.queue.len() >= QUEUE_CAPACITY {
            return false;
        }
        if self.queue.capacity() == 0 {
            self.queue.reserve_exact(QUEUE_CAPACITY);
        }
        self.queue.push_back((key, rfc, inband));
        true
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.active.is_none() && self.queue.is_empty()
    }

    /// Runs one send tick at RTP timestamp `ts`: writes the tone (if any)
    /// over `pcm` and returns true if it did; hands due telephone-event
    /// packets to `emit`.
    pub(crate) fn tick(
        &mut self,
        ts: u32,
        pcm: &mut [i16; FRAME_SAMPLES],
        mut emit: impl FnMut(&DtmfPacket),
    ) -> bool {
        if self.active.is_none() {
            if self.wait_ticks > 0 {
                self.wait_ticks -= 1;
                return false;
            }
            let Some((key, rfc, inband)) = self.queue.pop_front() else {
                return false;
            };
            let packets = if rfc {
                self.sender.send(key, self.duration, ts).ok()
            } else {
                None
            };
            let tone = if inband {
                tone_pair(key).map(|(low, high)| Tone {
                    low,
                    high,
                    done: 0,
                    total: (self.duration.as_millis() * 8) as u32,
                })
            } else {
                None
            };
            let mut a = Active {
                start_ts: ts,
                packets,
                next: None,
                tone,
            };
            a.next = a.packets.as_mut().and_then(Iterator::next);
            self.active = Some(a);
        }
        let Some(a) = self.active.as_mut() else {
            return false;
        };
        let mut wrote = false;
        if let Some(t) = a.tone.as_mut() {
            if t.done < t.total {
                let (wl, wh) = (2.0 * PI * t.low / 8000.0, 2.0 * PI * t.high / 8000.0);
                for (i, s) in pcm.iter_mut().enumerate() {
                    let n = t.done + i as u32;
                    *s = if n < t.total {
                        // Phase from the sample index modulo the period of
                        // 1 s, so f32 keeps its precision on long tones.
                        let k = (n % 8000) as f32;
                        (TONE_AMPLITUDE * ((wl * k).sin() + (wh * k).sin())) as i16
                    } else {
                        0
                    };
                }
                t.done += FRAME_SAMPLES as u32;
                wrote = true;
            }
        }
        let elapsed = ts.wrapping_sub(a.start_ts);
        while let Some(p) = a.next.filter(|p| p.offset <= elapsed) {
            emit(&p);
            a.next = a.packets.as_mut().and_then(Iterator::next);
        }
        let tone_done = a.tone.is_none_or(|t| t.done >= t.total);
        if tone_done && a.next.is_none() {
            self.active = None;
            self.wait_ticks = self.gap_ticks;
        }
        wrote
    }
}
