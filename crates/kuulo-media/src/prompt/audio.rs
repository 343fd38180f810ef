//! Reading WAV files into mono float audio and resampling it.

use std::io::Read;
use std::path::Path;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::PromptError;

/// Mono audio in floats on the -1.0..=1.0 scale, at `rate` samples per
/// second: the form prompts take between the file and the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct PcmAudio {
    /// Samples per second.
    pub rate: u32,
    /// The samples.
    pub samples: Vec<f32>,
}

impl PcmAudio {
    /// Length in time.
    pub fn duration(&self) -> std::time::Duration {
        if self.rate == 0 {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.rate))
    }

    /// Reads a WAV file of any rate, channel count and sample format hound
    /// reads (8/16/24/32-bit integer, 32-bit float) and averages its
    /// channels into one.
    pub fn read_wav(path: &Path) -> Result<Self, PromptError> {
        let reader = hound::WavReader::open(path).map_err(|e| PromptError::from_hound(path, e))?;
        Self::from_reader(reader, path)
    }

    /// Like [`read_wav`](Self::read_wav) from any reader; `name` is only
    /// used in errors.
    pub fn read_wav_from<R: Read>(input: R, name: &Path) -> Result<Self, PromptError> {
        let reader = hound::WavReader::new(input).map_err(|e| PromptError::from_hound(name, e))?;
        Self::from_reader(reader, name)
    }

    fn from_reader<R: Read>(reader: hound::WavReader<R>, name: &Path) -> Result<Self, PromptError> {
        let spec = reader.spec();
        let channels = usize::from(spec.channels);
        if channels == 0 || spec.sample_rate == 0 {
            return Err(PromptError::UnsupportedFormat {
                path: name.to_path_buf(),
                reason: format!("{} channels at {} Hz", spec.channels, spec.sample_rate),
            });
        }
        let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => reader
                .into_samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(|e| PromptError::from_hound(name, e))?,
            (hound::SampleFormat::Int, bits @ 1..=32) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f64;
                reader
                    .into_samples::<i32>()
                    .map(|s| s.map(|v| (f64::from(v) * scale) as f32))
                    .collect::<Result<_, _>>()
                    .map_err(|e| PromptError::from_hound(name, e))?
            }
            (format, bits) => {
                return Err(PromptError::UnsupportedFormat {
                    path: name.to_path_buf(),
                    reason: format!("{bits}-bit {format:?} samples"),
                })
            }
        };
        let samples: Vec<f32> = if channels == 1 {
            interleaved
        } else {
            let k = 1.0 / channels as f32;
            interleaved
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * k)
                .collect()
        };
        if samples.is_empty() {
            return Err(PromptError::Empty(name.to_path_buf()));
        }
        Ok(PcmAudio {
            rate: spec.sample_rate,
            samples,
        })
    }

    /// The same audio at `rate`, through rubato's FFT resampler (a
    /// band-limited synchronous resampler: prompts are converted once, so
    /// quality matters more than speed).
    pub fn resampled(&self, rate: u32) -> Result<PcmAudio, PromptError> {
        if rate == self.rate {
            return Ok(self.clone());
        }
        if rate == 0 {
            return Err(PromptError::Resample("output rate 0".into()));
        }
        let mut resampler =
            Fft::<f32>::new(self.rate as usize, rate as usize, 1024, 1, FixedSync::Input)
                .map_err(|e| PromptError::Resample(e.to_string()))?;
        let n = self.samples.len();
        let input = InterleavedSlice::new(&self.samples[..], 1, n)
            .map_err(|e| PromptError::Resample(e.to_string()))?;
        let out = resampler
            .process_all(&input, n, None)
            .map_err(|e| PromptError::Resample(e.to_string()))?;
        Ok(PcmAudio {
            rate,
            samples: out.take_data(),
        })
    }

    /// The samples as 16-bit integers, clipped.
    pub fn to_i16(&self) -> Vec<i16> {
        self.samples.iter().map(|&s| float_to_i16(s)).collect()
    }
}

/// Rounds a -1.0..=1.0 sample to 16 bits, clipping what a resampler's
/// overshoot pushed past full scale rather than wrapping it.
fn float_to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}
