//! In-band DTMF detection over 8 kHz 16-bit PCM, for trunks that send key
//! presses as tones in the audio rather than as RFC 4733 events.
//!
//! The detector looks at a 102-sample window (12.75 ms) that slides by 17
//! samples (2.1 ms). The window is assembled from six 17-sample sub-blocks,
//! each correlated once against the eight DTMF frequencies, so sliding costs
//! no more than a plain Goertzel filter bank while the tone's start and end
//! are located to about 2 ms: that is what lets a 40 ms tone pass and a
//! 35 ms one fail. A window holds a key when:
//!
//! - one low-group and one high-group tone stand out in their groups,
//! - both are loud enough and their twist, averaged over the tone, is within
//!   limits (high group at most 8 dB weaker, at most 4 dB stronger),
//! - the two tones carry nearly all the window's energy (speech and noise
//!   spread theirs over many frequencies: this is the main talk-off guard),
//! - each tone is nearer its nominal frequency than probes 4% either side
//!   (so +-1.5% passes and +-3.5% fails, whatever the absolute bin width).
//!
//! Runs of such windows are timed; a key is reported once per tone, after
//! a minimum duration and a minimum pause since the previous key.

use std::f32::consts::PI;
use std::sync::LazyLock;
use std::time::Duration;

const RATE: u32 = 8000;
const SUB: usize = 17;
const SUBS: usize = 6;
/// Window length in samples.
const N: usize = SUB * SUBS;
const FREQS: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Consecutive failing windows a tone may have without ending (noise).
const MAX_MISSES: u32 = 2;
/// Twist tolerance of a single window beyond the configured limits.
const TWIST_SLACK_DB: f32 = 3.0;

/// Tuning of a [`DtmfDetector`]. The defaults follow the usual telephone
/// limits (ITU-T Q.24 style).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Shortest tone reported. The measurement is good to about 2 ms, so
    /// the default of 38 ms accepts 40 ms tones and rejects 35 ms ones.
    pub min_duration: Duration,
    /// Shortest pause between two reported keys.
    pub min_gap: Duration,
    /// Largest normal twist (high group weaker than low), in dB.
    pub max_normal_twist_db: f32,
    /// Largest reverse twist (high group stronger than low), in dB.
    pub max_reverse_twist_db: f32,
    /// Least share of the window's energy the two tones must carry.
    pub min_tone_ratio: f32,
    /// Least peak amplitude of each tone, on the 16-bit scale.
    pub min_amplitude: f32,
    /// Relative offset of the frequency probes either side of a tone.
    pub probe_offset: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            min_duration: Duration::from_millis(38),
            min_gap: Duration::from_millis(30),
            max_normal_twist_db: 8.0,
            max_reverse_twist_db: 4.0,
            min_tone_ratio: 0.8,
            min_amplitude: 400.0,
            probe_offset: 0.04,
        }
    }
}

/// A key detected in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InbandDigit {
    /// The key: `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// Estimated tone start, in samples since the detector was created.
    pub start: u64,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    digit: char,
    first_start: u64,
    last_end: u64,
    misses: u32,
    reported: bool,
    /// Tone powers summed over the run's windows, for the twist check.
    low_power: f64,
    high_power: f64,
}

impl Run {
    fn twist_ok(&self, c: &DetectorConfig) -> bool {
        let (pl, ph) = (self.low_power, self.high_power);
        ph * f64::from(db(c.max_normal_twist_db)) >= pl
            && ph <= pl * f64::from(db(c.max_reverse_twist_db))
    }
}

/// The streaming detector. Feed it any number of samples at a time; it
/// allocates nothing after construction.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    config: DetectorConfig,
    tables: &'static Tables,
    /// Per frequency, Goertzel coefficients at it and at the two probes.
    probes: [[f32; 3]; 8],
    acc_re: [f32; 8],
    acc_im: [f32; 8],
    acc_energy: f32,
    acc_len: usize,
    /// The last `SUBS` sub-blocks' correlations and energies, oldest first
    /// from `head`.
    subs_re: [[f32; 8]; SUBS],
    subs_im: [[f32; 8]; SUBS],
    sub_energy: [f32; SUBS],
    head: usize,
    filled: usize,
    /// The last `N` samples, oldest at `ring_pos`, for the frequency probes.
    /// Kept as they came (half the size of `f32`, in every call's
    /// detector); each converts to the same `f32` when probed.
    ring: [i16; N],
    ring_pos: usize,
    samples: u64,
    run: Option<Run>,
    last_tone_end: Option<u64>,
    /// Edge allowance: how far runs of passing windows overhang the tone.
    overhang: u64,
}

/// The correlation tables, the same for every detector: one shared copy
/// stays in cache while a shard runs thousands of calls' detectors, where
/// a copy per call (1.5 KiB each) would be fetched from memory every
/// 20 ms.
#[derive(Debug)]
struct Tables {
    /// Per sample of a sub-block, `cos` and `-sin` of every frequency:
    /// laid out so one sample updates all eight accumulators in a few
    /// vector instructions (this loop runs for every received sample of
    /// every call).
    basis_re: [[f32; 8]; SUB],
    basis_im: [[f32; 8]; SUB],
    /// Per sub-block position `i` within the window, the phase turn of
    /// every frequency (`cos`, `-sin`), laid out like the basis.
    turn_re: [[f32; 8]; SUBS],
    turn_im: [[f32; 8]; SUBS],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut t = Tables {
        basis_re: [[0.0; 8]; SUB],
        basis_im: [[0.0; 8]; SUB],
        turn_re: [[0.0; 8]; SUBS],
        turn_im: [[0.0; 8]; SUBS],
    };
    for (f, freq) in FREQS.iter().enumerate() {
        let w = 2.0 * PI * freq / RATE as f32;
        for n in 0..SUB {
            t.basis_re[n][f] = (w * n as f32).cos();
            t.basis_im[n][f] = -(w * n as f32).sin();
        }
        for i in 0..SUBS {
            let a = w * (i * SUB) as f32;
            t.turn_re[i][f] = a.cos();
            t.turn_im[i][f] = -a.sin();
        }
    }
    t
});

impl DtmfDetector {
    /// A detector for 8 kHz audio.
    pub fn new(config: DetectorConfig) -> Self {
        let mut probes = [[0.0; 3]; 8];
        let coeff = |hz: f32| 2.0 * (2.0 * PI * hz / RATE as f32).cos();
        let d = config.probe_offset;
        for (f, freq) in FREQS.iter().enumerate() {
            probes[f] = [
                coeff(*freq),
                coeff(freq * (1.0 + d)),
                coeff(freq * (1.0 - d)),
            ];
        }
        // A window passes while the tone covers most of it, so a run
        // overhangs each tone edge. Leakage of the cut tone makes the
        // share needed higher than `min_tone_ratio`: half the naive
        // overhang matches measurements.
        let overhang = ((1.0 - config.min_tone_ratio.clamp(0.0, 1.0)) * N as f32 / 2.0) as u64;
        Self {
            config,
            tables: &TABLES,
            probes,
            acc_re: [0.0; 8],
            acc_im: [0.0; 8],
            acc_energy: 0.0,
            acc_len: 0,
            subs_re: [[0.0; 8]; SUBS],
            subs_im: [[0.0; 8]; SUBS],
            sub_energy: [0.0; SUBS],
            head: 0,
            filled: 0,
            ring: [0; N],
            ring_pos: 0,
            samples: 0,
            run: None,
            last_tone_end: None,
            overhang,
        }
    }

    /// Consumes samples, calling `emit` for each key found.
    pub fn process(&mut self, samples: &[i16], mut emit: impl FnMut(InbandDigit)) {
        // Up to the end of the current sub-block at a time, with the
        // accumulators in locals; each accumulator still sums its terms in
        // sample order, so results are the same to the bit.
        let t = self.tables;
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (SUB - self.acc_len).min(rest.len());
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            if chunk.iter().all(|&s| s == 0) {
                // Digital silence (what most trunks and phones send
                // between words): each term would be a zero, which leaves
                // every sum as it is, so skipping them is exact.
                for _ in chunk {
                    self.ring[self.ring_pos] = 0;
                    self.ring_pos += 1;
                    if self.ring_pos == N {
                        self.ring_pos = 0;
                    }
                }
                self.acc_len += take;
                self.samples += take as u64;
                if self.acc_len == SUB {
                    self.end_sub_block(&mut emit);
                }
                continue;
            }
            let (mut re, mut im) = (self.acc_re, self.acc_im);
            let mut energy = self.acc_energy;
            for (&s, (br, bi)) in chunk.iter().zip(
                t.basis_re[self.acc_len..]
                    .iter()
                    .zip(&t.basis_im[self.acc_len..]),
            ) {
                let x = f32::from(s);
                for f in 0..8 {
                    re[f] += x * br[f];
                    im[f] += x * bi[f];
                }
                energy += x * x;
                self.ring[self.ring_pos] = s;
                self.ring_pos += 1;
                if self.ring_pos == N {
                    self.ring_pos = 0;
                }
            }
            (self.acc_re, self.acc_im, self.acc_energy) = (re, im, energy);
            self.acc_len += take;
            self.samples += take as u64;
            if self.acc_len == SUB {
                self.end_sub_block(&mut emit);
            }
        }
    }

    fn end_sub_block(&mut self, emit: &mut impl FnMut(InbandDigit)) {
        self.subs_re[self.head] = self.acc_re;
        self.subs_im[self.head] = self.acc_im;
        self.sub_energy[self.head] = self.acc_energy;
        self.head = (self.head + 1) % SUBS;
        self.filled = (self.filled + 1).min(SUBS);
        self.acc_re = [0.0; 8];
        self.acc_im = [0.0; 8];
        self.acc_energy = 0.0;
        self.acc_len = 0;
        if self.filled == SUBS {
            let key = self.classify();
            self.track(key, emit);
        }
    }

    /// The key held over the current window and its two tone powers, if it
    /// passes every check but the exact twist (judged over the whole tone).
    fn classify(&self) -> Option<(char, f32, f32)> {
        let c = &self.config;
        // A tone of amplitude A gives |X|^2 = (A N / 2)^2.
        let min_power = (c.min_amplitude * N as f32 / 2.0).powi(2);
        // No frequency's power can exceed N times the window's energy
        // (Cauchy-Schwarz with unit-magnitude basis), so a window quieter
        // than this cannot pass the level check below: skip the work.
        // The factor of 2 leaves room for rounding.
        let energy: f32 = self.sub_energy.iter().sum();
        if 2.0 * N as f32 * energy < min_power {
            return None;
        }
        // All eight frequencies side by side; each still sums its
        // sub-blocks in window order, as a loop per frequency would.
        let (mut re, mut im) = ([0.0f32; 8], [0.0f32; 8]);
        for i in 0..SUBS {
            let k = (self.head + i) % SUBS;
            let (sr, si) = (&self.subs_re[k], &self.subs_im[k]);
            let (tr, ti) = (&self.tables.turn_re[i], &self.tables.turn_im[i]);
            for f in 0..8 {
                let (a, b, c, d) = (sr[f], si[f], tr[f], ti[f]);
                re[f] += a * c - b * d;
                im[f] += a * d + b * c;
            }
        }
        let power: [f32; 8] = std::array::from_fn(|f| re[f] * re[f] + im[f] * im[f]);
        let (lo, lo2) = top_two(&power[..4]);
        let (hi, hi2) = top_two(&power[4..]);
        let (pl, ph) = (power[lo], power[4 + hi]);
        if pl < min_power || ph < min_power {
            return None;
        }
        // Each tone must stand 6 dB above the runner-up in its group.
        if power[lo2] * 4.0 > pl || power[4 + hi2] * 4.0 > ph {
            return None;
        }
        // One window measures twist only to about +-1 dB (the other tone
        // leaks into a 102-sample window), so here only gross twist is
        // refused; the limits apply to powers summed over the run.
        let slack = TWIST_SLACK_DB;
        if ph * db(c.max_normal_twist_db + slack) < pl
            || ph > pl * db(c.max_reverse_twist_db + slack)
        {
            return None;
        }
        // A pure tone filling the window has |X|^2 = N/2 * energy.
        if 2.0 * (pl + ph) < c.min_tone_ratio * N as f32 * energy {
            return None;
        }
        if !self.on_frequency(lo) || !self.on_frequency(4 + hi) {
            return None;
        }
        Some((KEYS[lo][hi], pl, ph))
    }

    /// True if the window's tone near `freq` is closer to it than to the
    /// probes either side.
    fn on_frequency(&self, f: usize) -> bool {
        let [at, up, down] = self.goertzel3(self.probes[f]);
        at >= up && at >= down
    }

    /// Goertzel powers of the stored window for three filters, run side by
    /// side so their dependency chains overlap.
    fn goertzel3(&self, coeff: [f32; 3]) -> [f32; 3] {
        let (newer, older) = self.ring.split_at(self.ring_pos);
        let mut s1 = [0.0f32; 3];
        let mut s2 = [0.0f32; 3];
        for &x in older.iter().chain(newer) {
            let x = f32::from(x);
            for k in 0..3 {
                let s0 = x + coeff[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s0;
            }
        }
        [0, 1, 2].map(|k| s1[k] * s1[k] + s2[k] * s2[k] - coeff[k] * s1[k] * s2[k])
    }

    fn track(&mut self, key: Option<(char, f32, f32)>, emit: &mut impl FnMut(InbandDigit)) {
        let end = self.samples;
        let start = end - N as u64;
        match (self.run.as_mut(), key) {
            (Some(run), Some((k, pl, ph))) if run.digit == k => {
                run.last_end = end;
                run.misses = 0;
                run.low_power += f64::from(pl);
                run.high_power += f64::from(ph);
            }
            (Some(run), None) => {
                run.misses += 1;
                if run.misses > MAX_MISSES {
                    self.close_run();
                }
                return;
            }
            (_, Some((k, pl, ph))) => {
                self.close_run();
                self.run = Some(Run {
                    digit: k,
                    first_start: start,
                    last_end: end,
                    misses: 0,
                    reported: false,
                    low_power: f64::from(pl),
                    high_power: f64::from(ph),
                });
            }
            (None, None) => return,
        }
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let to_samples = |d: Duration| d.as_micros() as u64 * u64::from(RATE) / 1_000_000;
        let tone = (run.last_end - run.first_start).saturating_sub(2 * self.overhang);
        let tone_start = run.first_start + self.overhang;
        let gap_ok = self
            .last_tone_end
            .is_none_or(|prev| tone_start.saturating_sub(prev) >= to_samples(self.config.min_gap));
        if !run.reported
            && gap_ok
            && tone >= to_samples(self.config.min_duration)
            && run.twist_ok(&self.config)
        {
            run.reported = true;
            emit(InbandDigit {
                digit: run.digit,
                start: tone_start,
            });
        }
    }

    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            if run.reported {
                self.last_tone_end = Some(run.last_end.saturating_sub(self.overhang));
            }
        }
    }

    /// Forgets all state (a new call), keeping the configuration.
    pub fn reset(&mut self) {
        *self = Self::new(self.config);
    }
}

fn db(x: f32) -> f32 {
    10f32.powf(x / 10.0)
}

/// Indices of the largest and second-largest values.
fn top_two(p: &[f32]) -> (usize, usize) {
    let mut best = 0;
    for i in 1..p.len() {
        if p[i] > p[best] {
            best = i;
        }
    }
    let mut second = usize::from(best == 0);
    for i in 0..p.len() {
        if i != best && p[i] > p[second] {
            second = i;
        }
    }
    (best, second)
}
