//! Recording the caller's answer to an open question: 8 kHz mono 16-bit
//! audio, ended by a maximum length, by silence after speech, by no speech
//! at all, or by the caller (a `#`), then trimmed and written as WAV.
//!
//! The recorder is sans-IO like the rest of the media path: it is fed
//! decoded 20 ms frames and `now`, never reads a clock, and never touches
//! the disk until [`Recording::write_wav`] is called by the driver.

use std::f32::consts::PI;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::prompt::{EncodedPrompt, PromptError, FRAME_SAMPLES, NARROWBAND_RATE};
use crate::sdp::AudioCodec;

/// When a recording ends, and how much of it is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordingConfig {
    /// Longest recording.
    pub max_length: Duration,
    /// A frame whose RMS level is at or above this (dB relative to full
    /// scale; a full-scale sine is -3 dBFS) counts as speech.
    pub speech_threshold_dbfs: f32,
    /// Loud frames needed in a row before speech is taken to have begun,
    /// so a click or a cough-sized burst does not arm the silence timer.
    pub min_speech: Duration,
    /// Silence after speech that ends the recording (the VAD's hangover).
    pub end_silence: Duration,
    /// Silence before any speech that ends the recording; longer than
    /// `end_silence` because people take a moment to start answering.
    pub no_speech_timeout: Duration,
    /// Cut leading and trailing silence when the recording finishes.
    pub trim: bool,
    /// Audio kept either side of the speech when trimming, so word edges
    /// below the threshold are not clipped.
    pub trim_margin: Duration,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            max_length: Duration::from_secs(60),
            speech_threshold_dbfs: -40.0,
            min_speech: Duration::from_millis(60),
            end_silence: Duration::from_secs(2),
            no_speech_timeout: Duration::from_secs(5),
            trim: true,
            trim_margin: Duration::from_millis(200),
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingOutcome {
    /// It reached `max_length`.
    MaxLength,
    /// The caller spoke, then was silent for `end_silence`.
    Silence,
    /// The caller said nothing for `no_speech_timeout`.
    NoSpeech,
    /// It was stopped from outside (a `#`, a hang-up, the script).
    Stopped,
}

/// Why a recording could not be written.
#[derive(Debug, Error)]
pub enum RecordingError {
    /// Creating or writing the file failed.
    #[error("cannot write recording {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The WAV encoder refused (e.g. the file grew past 4 GiB).
    #[error("cannot encode recording as WAV: {0}")]
    Wav(String),
}

impl From<hound::Error> for RecordingError {
    fn from(e: hound::Error) -> Self {
        RecordingError::Wav(e.to_string())
    }
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Why it ended.
    pub outcome: RecordingOutcome,
    /// The audio at 8 kHz, trimmed if the config asked.
    pub samples: Vec<i16>,
    /// True if any speech was heard.
    pub heard_speech: bool,
}

impl Recording {
    /// Sample rate of [`samples`](Self::samples).
    pub const SAMPLE_RATE: u32 = NARROWBAND_RATE;

    /// Length of the kept audio.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / u64::from(Self::SAMPLE_RATE))
    }

    /// Writes the audio as an 8 kHz mono 16-bit WAV file.
    pub fn write_wav(&self, path: &Path) -> Result<(), RecordingError> {
        let file = std::fs::File::create(path).map_err(|source| RecordingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.write_wav_to(std::io::BufWriter::new(file))
    }

    /// Writes the audio as WAV into any seekable writer.
    pub fn write_wav_to<W: Write + Seek>(&self, out: W) -> Result<(), RecordingError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: Self::SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(out, spec)?;
        {
            let mut i16w = w.get_i16_writer(self.samples.len() as u32);
            for &s in &self.samples {
                i16w.write_sample(s);
            }
            i16w.flush()?;
        }
        w.finalize()?;
        Ok(())
    }
}

/// RMS level of a frame in dB relative to full scale; `-inf` for digital
/// silence.
pub fn frame_dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return f32::NEG_INFINITY;
    }
    let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let mean = energy / frame.len() as f64 / (32768.0 * 32768.0);
    (10.0 * mean.log10()) as f32
}

/// Records one answer: push every decoded frame as it plays out, watch
/// [`push`](Self::push) or [`handle_timeout`](Self::handle_timeout) for the
/// outcome, then [`finish`](Self::finish).
///
/// The sample buffer is reserved for `max_length` up front so pushing
/// frames never allocates on the playout path.
#[derive(Debug, Clone)]
pub struct Recorder {
    config: RecordingConfig,
    started: Instant,
    samples: Vec<i16>,
    max_samples: usize,
    /// Loud frames in a row not yet taken as speech.
    loud_run: usize,
    /// Sample index where the first speech began.
    speech_start: Option<usize>,
    /// Sample index just past the last loud frame after speech began.
    speech_end: usize,
    last_speech_at: Option<Instant>,
    outcome: Option<RecordingOutcome>,
}

fn samples_in(d: Duration) -> usize {
    (d.as_micros() * u128::from(NARROWBAND_RATE) / 1_000_000) as usize
}

impl Recorder {
    /// Starts recording at `now` (the leading-silence timeout counts from here).
    pub fn new(now: Instant, config: RecordingConfig) -> Self {
        let max_samples = samples_in(config.max_length);
        Recorder {
            config,
            started: now,
            samples: Vec::with_capacity(max_samples),
            max_samples,
            loud_run: 0,
            speech_start: None,
            speech_end: 0,
            last_speech_at: None,
            outcome: None,
        }
    }

    /// Adds one decoded frame that played out at `now`. Returns the outcome
    /// once the recording has ended; frames after that are ignored.
    pub fn push(&mut self, now: Instant, frame: &[i16]) -> Option<RecordingOutcome> {
        if self.outcome.is_some() {
            return self.outcome;
        }
        let room = self.max_samples - self.samples.len();
        let frame = &frame[..frame.len().min(room)];
        self.samples.extend_from_slice(frame);
        if !frame.is_empty() && frame_dbfs(frame) >= self.config.speech_threshold_dbfs {
            self.loud_run += frame.len();
            if self.speech_start.is_none() && self.loud_run >= samples_in(self.config.min_speech) {
                self.speech_start = Some(self.samples.len() - self.loud_run);
            }
            if self.speech_start.is_some() {
                self.speech_end = self.samples.len();
                self.last_speech_at = Some(now);
            }
        } else {
            self.loud_run = 0;
        }
        if self.samples.len() >= self.max_samples {
            self.outcome = Some(RecordingOutcome::MaxLength);
            return self.outcome;
        }
        self.handle_timeout(now)
    }

    /// Ends the recording by time alone (frames stopped arriving). Returns
    /// the outcome once it has ended.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<RecordingOutcome> {
        if self.outcome.is_none() && self.poll_timeout().is_some_and(|at| now >= at) {
            self.outcome = Some(if now >= self.started + self.config.max_length {
                RecordingOutcome::MaxLength
            } else if self.last_speech_at.is_some() {
                RecordingOutcome::Silence
            } else {
                RecordingOutcome::NoSpeech
            });
        }
        self.outcome
    }

    /// When the recording will end by itself if nothing is heard, or `None`
    /// once it has ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        let max = self.started + self.config.max_length;
        let quiet = match self.last_speech_at {
            Some(at) => at + self.config.end_silence,
            None => self.started + self.config.no_speech_timeout,
        };
        Some(max.min(quiet))
    }

    /// Stops the recording from outside, unless it has already ended.
    pub fn stop(&mut self) {
        self.outcome.get_or_insert(RecordingOutcome::Stopped);
    }

    /// The outcome, once the recording has ended.
    pub fn outcome(&self) -> Option<RecordingOutcome> {
        self.outcome
    }

    /// True if speech has been heard.
    pub fn heard_speech(&self) -> bool {
        self.speech_start.is_some()
    }

    /// Samples recorded so far, untrimmed.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The recording, trimmed if configured. A recording not yet ended is
    /// taken as [`RecordingOutcome::Stopped`].
    pub fn finish(mut self) -> Recording {
        let outcome = self.outcome.unwrap_or(RecordingOutcome::Stopped);
        let heard_speech = self.speech_start.is_some();
        if self.config.trim {
            match self.speech_start {
                Some(start) => {
                    let margin = samples_in(self.config.trim_margin);
                    let end = (self.speech_end + margin).min(self.samples.len());
                    self.samples.truncate(end);
                    self.samples.drain(..start.saturating_sub(margin));
                }
                None => self.samples.clear(),
            }
        }
        Recording {
            outcome,
            samples: self.samples,
            heard_speech,
        }
    }
}

/// An 8 kHz beep of `freq` Hz lasting `ms` milliseconds rounded up to whole
/// 20 ms frames, at -10 dBFS peak with 5 ms raised-cosine edges so it
/// starts and stops without a click.
pub fn beep_frames(freq: f32, ms: u32) -> Vec<i16> {
    let n =
        samples_in(Duration::from_millis(u64::from(ms))).div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
    let ramp = samples_in(Duration::from_millis(5)).min(n / 2).max(1);
    let amplitude = 32767.0 * 10f32.powf(-10.0 / 20.0);
    let w = 2.0 * PI * freq / NARROWBAND_RATE as f32;
    (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            let gain = if edge < ramp {
                0.5 - 0.5 * (PI * edge as f32 / ramp as f32).cos()
            } else {
                1.0
            };
            (amplitude * gain * (w * i as f32).sin()).round() as i16
        })
        .collect()
}

/// [`beep_frames`] encoded for a codec, ready to play before a recording.
pub fn beep_prompt(freq: f32, ms: u32, codec: AudioCodec) -> Result<EncodedPrompt, PromptError> {
    EncodedPrompt::from_samples(&beep_frames(freq, ms), codec)
}
