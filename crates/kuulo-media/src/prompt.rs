//! Prompts: WAV files converted once to mono at the codec's rate (8 kHz for
//! G.711, 48 kHz for Opus) and encoded once per codec into 20 ms frames that
//! every call plays from the same memory.
//!
//! A survey round plays the same few prompts to thousands of residents, so
//! the work is done when a prompt is loaded, never per call or per packet:
//! an [`EncodedPrompt`] keeps all its frames in one shared `Arc<[u8]>` and
//! hands out frames as slices of it.
//!
//! G.711 frames are all 160 bytes; Opus frames vary in size, so an Opus
//! prompt also keeps where each frame ends, and [`EncodedPrompt::frame`]
//! works the same for every codec.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::g711::Law;
use crate::opus::{self, OpusError, DEFAULT_BITRATE, OPUS_CLOCK_RATE, OPUS_FRAME_UNITS};
use crate::sdp::AudioCodec;

mod audio;

pub use audio::PcmAudio;

/// The rate G.711 carries.
pub const NARROWBAND_RATE: u32 = 8000;
/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The packet time every prompt is cut to.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Why a prompt could not be loaded or encoded.
#[derive(Debug, Error)]
pub enum PromptError {
    /// The file does not exist.
    #[error("prompt file not found: {}", .0.display())]
    NotFound(PathBuf),
    /// The file exists but could not be read.
    #[error("cannot read prompt {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Not a WAV file, or a WAV form hound cannot read (e.g. 64-bit float,
    /// compressed formats).
    #[error("unsupported prompt format in {}: {reason}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file holds no samples.
    #[error("prompt {} is empty", .0.display())]
    Empty(PathBuf),
    /// Resampling failed (a sample rate the resampler refuses).
    #[error("cannot resample prompt: {0}")]
    Resample(String),
    /// Prompts cannot be encoded for this codec (kept for codecs added to
    /// SDP before they get an encoder; every codec of [`AudioCodec`] has
    /// one now).
    #[error("prompts cannot be encoded as {0:?} yet")]
    UnsupportedCodec(AudioCodec),
    /// The samples are at a rate the codec cannot take (G.711 takes only
    /// 8 kHz; Opus 8, 12, 16, 24 or 48 kHz).
    #[error("{codec:?} cannot encode audio at {rate} Hz")]
    Rate {
        /// The codec.
        codec: AudioCodec,
        /// The rate of the samples.
        rate: u32,
    },
    /// The Opus encoder failed.
    #[error(transparent)]
    Opus(#[from] OpusError),
}

impl PromptError {
    fn from_hound(path: &Path, e: hound::Error) -> Self {
        let path = path.to_path_buf();
        match e {
            hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::NotFound => {
                PromptError::NotFound(path)
            }
            // hound reports a file that ends mid-header as an I/O error of
            // its own making; only errors from the OS are real I/O failures.
            hound::Error::IoError(io) if io.raw_os_error().is_none() => {
                PromptError::UnsupportedFormat {
                    path,
                    reason: io.to_string(),
                }
            }
            hound::Error::IoError(source) => PromptError::Io { path, source },
            other => PromptError::UnsupportedFormat {
                path,
                reason: other.to_string(),
            },
        }
    }
}

/// The rate prompts are converted to for `codec`: 8 kHz for G.711; the
/// full 48 kHz for Opus, which carries wideband speech a narrowband prompt
/// would have thrown away.
pub fn audio_rate(codec: AudioCodec) -> u32 {
    match codec {
        AudioCodec::Pcmu | AudioCodec::Pcma => NARROWBAND_RATE,
        AudioCodec::Opus => OPUS_CLOCK_RATE,
    }
}

/// Where frames lie in the shared buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    /// Every frame is this many bytes (G.711).
    Fixed(usize),
    /// Frame `i` ends at `ends[i]` and starts where frame `i - 1` ended
    /// (Opus, whose variable bit rate makes every frame a different size).
    Indexed(Arc<[u32]>),
}

/// A prompt encoded for one codec: 20 ms frames back to back in one shared
/// buffer. Cloning it, or sharing it in an `Arc`, copies no audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPrompt {
    codec: AudioCodec,
    layout: Layout,
    samples: usize,
    rate: u32,
    data: Arc<[u8]>,
}

impl EncodedPrompt {
    /// Encodes 8 kHz 16-bit samples. The last frame is padded with silence
    /// so every frame is a whole 20 ms.
    pub fn from_samples(samples: &[i16], codec: AudioCodec) -> Result<Self, PromptError> {
        Self::from_samples_at(samples, NARROWBAND_RATE, codec)
    }

    /// Encodes 16-bit samples at `rate`: 8 kHz for G.711; for Opus 8, 12,
    /// 16, 24 or 48 kHz (Opus codes what bandwidth the rate holds).
    pub fn from_samples_at(
        samples: &[i16],
        rate: u32,
        codec: AudioCodec,
    ) -> Result<Self, PromptError> {
        let (layout, data) = match codec {
            AudioCodec::Pcmu | AudioCodec::Pcma => {
                if rate != NARROWBAND_RATE {
                    return Err(PromptError::Rate { codec, rate });
                }
                let law = if codec == AudioCodec::Pcmu {
                    Law::Ulaw
                } else {
                    Law::Alaw
                };
                let frames = samples.len().div_ceil(FRAME_SAMPLES);
                let mut data = vec![law.silence(); frames * FRAME_SAMPLES];
                law.encode(samples, &mut data);
                (Layout::Fixed(FRAME_SAMPLES), data)
            }
            AudioCodec::Opus => {
                if !opus::is_supported_rate(rate) {
                    return Err(PromptError::Rate { codec, rate });
                }
                let (data, ends) = opus::encode_frames(samples, rate, DEFAULT_BITRATE)?;
                (Layout::Indexed(ends.into()), data)
            }
        };
        Ok(EncodedPrompt {
            codec,
            layout,
            samples: samples.len(),
            rate,
            data: data.into(),
        })
    }

    /// Converts audio of any rate to the codec's rate ([`audio_rate`]) and
    /// encodes it.
    pub fn from_audio(audio: &PcmAudio, codec: AudioCodec) -> Result<Self, PromptError> {
        let rate = audio_rate(codec);
        Self::from_samples_at(&audio.resampled(rate)?.to_i16(), rate, codec)
    }

    /// Reads, converts and encodes a WAV file.
    pub fn from_wav(path: &Path, codec: AudioCodec) -> Result<Self, PromptError> {
        Self::from_audio(&PcmAudio::read_wav(path)?, codec)
    }

    /// The codec the frames are in.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// Number of 20 ms frames.
    pub fn frame_count(&self) -> usize {
        match &self.layout {
            Layout::Fixed(bytes) => self.data.len() / bytes.max(&1),
            Layout::Indexed(ends) => ends.len(),
        }
    }

    /// Audio length before padding of the last frame.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples as u64 * 1_000_000 / u64::from(self.rate.max(1)))
    }

    /// Length when played, whole frames.
    pub fn play_duration(&self) -> Duration {
        FRAME_DURATION * self.frame_count() as u32
    }

    /// Frame `index` as a slice of the shared buffer, or `None` past the end.
    pub fn frame(&self, index: usize) -> Option<&[u8]> {
        let (start, end) = match &self.layout {
            Layout::Fixed(bytes) => {
                let start = index.checked_mul(*bytes)?;
                (start, start.checked_add(*bytes)?)
            }
            Layout::Indexed(ends) => {
                let start = match index.checked_sub(1) {
                    Some(prev) => *ends.get(prev)?,
                    None => 0,
                };
                (start as usize, *ends.get(index)? as usize)
            }
        };
        self.data.get(start..end)
    }

    /// All frames in order.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.frame_count()).map(move |i| self.frame(i).unwrap_or_default())
    }

    /// RTP timestamp units one frame spans: 160 for G.711, 960 for Opus
    /// (its RTP clock is 48 kHz whatever the audio rate).
    pub fn frame_timestamp_units(&self) -> u32 {
        match self.codec {
            AudioCodec::Pcmu | AudioCodec::Pcma => FRAME_SAMPLES as u32,
            AudioCodec::Opus => OPUS_FRAME_UNITS,
        }
    }

    /// The shared buffer, for callers that hand frames to another owner.
    pub fn data(&self) -> &Arc<[u8]> {
        &self.data
    }
}

/// What a cached prompt is known by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PromptKey {
    /// A WAV file, loaded on first use.
    Path(PathBuf),
    /// A prompt the caller made (a beep, a synthesized phrase) and inserted.
    Id(String),
}

/// Loaded prompts by (key, codec), so a prompt is read, resampled and
/// encoded once however many calls play it.
///
/// The converted audio of each file is kept too (by rate), so PCMA after
/// PCMU costs an encode but no second read and resample.
#[derive(Debug, Default)]
pub struct PromptCache {
    encoded: HashMap<(PromptKey, AudioCodec), Arc<EncodedPrompt>>,
    converted: HashMap<(PathBuf, u32), Arc<[i16]>>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The prompt at `path` for `codec`, loading it on first use.
    pub fn load(
        &mut self,
        path: &Path,
        codec: AudioCodec,
    ) -> Result<Arc<EncodedPrompt>, PromptError> {
        let key = (PromptKey::Path(path.to_path_buf()), codec);
        if let Some(p) = self.encoded.get(&key) {
            return Ok(Arc::clone(p));
        }
        let rate = audio_rate(codec);
        let converted_key = (path.to_path_buf(), rate);
        let samples = match self.converted.get(&converted_key) {
            Some(s) => Arc::clone(s),
            None => {
                let audio = PcmAudio::read_wav(path)?.resampled(rate)?;
                let s: Arc<[i16]> = audio.to_i16().into();
                self.converted.insert(converted_key, Arc::clone(&s));
                s
            }
        };
        let prompt = Arc::new(EncodedPrompt::from_samples_at(&samples, rate, codec)?);
        self.encoded.insert(key, Arc::clone(&prompt));
        Ok(prompt)
    }

    /// Stores a prompt under an id, replacing any earlier one.
    pub fn insert(&mut self, id: impl Into<String>, prompt: EncodedPrompt) -> Arc<EncodedPrompt> {
        let prompt = Arc::new(prompt);
        self.encoded.insert(
            (PromptKey::Id(id.into()), prompt.codec()),
            Arc::clone(&prompt),
        );
        prompt
    }

    /// A cached prompt, without loading.
    pub fn get(&self, key: &PromptKey, codec: AudioCodec) -> Option<Arc<EncodedPrompt>> {
        self.encoded.get(&(key.clone(), codec)).cloned()
    }

    /// Forgets a prompt in every codec (the file changed between rounds).
    pub fn remove(&mut self, key: &PromptKey) {
        self.encoded.retain(|(k, _), _| k != key);
        if let PromptKey::Path(p) = key {
            self.converted.retain(|(path, _), _| path != p);
        }
    }

    /// Number of (prompt, codec) entries.
    pub fn len(&self) -> usize {
        self.encoded.len()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }
}
