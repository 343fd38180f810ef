//! Prompts: WAV files converted once to 8 kHz mono and encoded once per
//! codec into 20 ms frames that every call plays from the same memory.
//!
//! A survey round plays the same few prompts to thousands of residents, so
//! the work is done when a prompt is loaded, never per call or per packet:
//! an [`EncodedPrompt`] keeps all its frames in one shared `Arc<[u8]>` and
//! hands out frames as slices of it.
//!
//! Opus prompts are not encoded yet; asking for one is a typed error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::g711::Law;
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
    /// Prompts cannot be encoded for this codec yet.
    #[error("prompts cannot be encoded as {0:?} yet")]
    UnsupportedCodec(AudioCodec),
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

fn law_of(codec: AudioCodec) -> Result<Law, PromptError> {
    match codec {
        AudioCodec::Pcmu => Ok(Law::Ulaw),
        AudioCodec::Pcma => Ok(Law::Alaw),
        AudioCodec::Opus => Err(PromptError::UnsupportedCodec(codec)),
    }
}

/// A prompt encoded for one codec: 20 ms frames back to back in one shared
/// buffer. Cloning it, or sharing it in an `Arc`, copies no audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPrompt {
    codec: AudioCodec,
    frame_bytes: usize,
    samples: usize,
    data: Arc<[u8]>,
}

impl EncodedPrompt {
    /// Encodes 8 kHz 16-bit samples. The last frame is padded with the
    /// codec's silence so every frame is a whole 20 ms.
    pub fn from_samples(samples: &[i16], codec: AudioCodec) -> Result<Self, PromptError> {
        let law = law_of(codec)?;
        let frames = samples.len().div_ceil(FRAME_SAMPLES);
        let mut data = vec![law.silence(); frames * FRAME_SAMPLES];
        law.encode(samples, &mut data);
        Ok(EncodedPrompt {
            codec,
            frame_bytes: FRAME_SAMPLES,
            samples: samples.len(),
            data: data.into(),
        })
    }

    /// Converts audio of any rate to 8 kHz and encodes it.
    pub fn from_audio(audio: &PcmAudio, codec: AudioCodec) -> Result<Self, PromptError> {
        law_of(codec)?;
        let narrow = audio.resampled(NARROWBAND_RATE)?;
        Self::from_samples(&narrow.to_i16(), codec)
    }

    /// Reads, converts and encodes a WAV file.
    pub fn from_wav(path: &Path, codec: AudioCodec) -> Result<Self, PromptError> {
        law_of(codec)?;
        Self::from_audio(&PcmAudio::read_wav(path)?, codec)
    }

    /// The codec the frames are in.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// Number of 20 ms frames.
    pub fn frame_count(&self) -> usize {
        self.data.len() / self.frame_bytes.max(1)
    }

    /// Audio length before padding of the last frame.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples as u64 * 1_000_000 / u64::from(NARROWBAND_RATE))
    }

    /// Length when played, whole frames.
    pub fn play_duration(&self) -> Duration {
        FRAME_DURATION * self.frame_count() as u32
    }

    /// Frame `index` as a slice of the shared buffer, or `None` past the end.
    pub fn frame(&self, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(self.frame_bytes)?;
        self.data.get(start..start.checked_add(self.frame_bytes)?)
    }

    /// All frames in order.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.data.chunks_exact(self.frame_bytes.max(1))
    }

    /// RTP timestamp units one frame spans.
    pub fn frame_timestamp_units(&self) -> u32 {
        FRAME_SAMPLES as u32
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
/// The 8 kHz audio of each file is kept too, so the second codec of a
/// prompt costs an encode but no second read and resample.
#[derive(Debug, Default)]
pub struct PromptCache {
    encoded: HashMap<(PromptKey, AudioCodec), Arc<EncodedPrompt>>,
    narrowband: HashMap<PathBuf, Arc<[i16]>>,
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
        law_of(codec)?;
        let samples = match self.narrowband.get(path) {
            Some(s) => Arc::clone(s),
            None => {
                let audio = PcmAudio::read_wav(path)?.resampled(NARROWBAND_RATE)?;
                let s: Arc<[i16]> = audio.to_i16().into();
                self.narrowband.insert(path.to_path_buf(), Arc::clone(&s));
                s
            }
        };
        let prompt = Arc::new(EncodedPrompt::from_samples(&samples, codec)?);
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
            self.narrowband.remove(p);
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
