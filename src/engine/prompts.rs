//! The shard's prompt library: every prompt of the survey in every
//! language and codec, encoded once at start-up and shared by all calls.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use kuulo_ivr::{Language, PromptId, PromptSource, SurveyScript};
use kuulo_media::prompt::{EncodedPrompt, PcmAudio, PromptError, NARROWBAND_RATE};
use kuulo_media::recording::beep_prompt;
use kuulo_media::sdp::AudioCodec;
use thiserror::Error;

use crate::tts::{SpeechSynth, TtsError};

/// The codecs a call may negotiate; every prompt is encoded in each.
pub const CODECS: [AudioCodec; 2] = [AudioCodec::Pcmu, AudioCodec::Pcma];

/// The beep before a voice answer: 1 kHz, a quarter second, as answering
/// machines have taught callers to expect.
const BEEP_HZ: f32 = 1000.0;
const BEEP_MS: u32 = 250;

/// Why the library could not be built.
#[derive(Debug, Error)]
pub enum LibraryError {
    /// A recorded (or rendered) prompt file could not be read or encoded.
    #[error("prompt `{prompt}` ({language}): {source}")]
    Audio {
        /// The prompt.
        prompt: String,
        /// Its language.
        language: String,
        /// What went wrong.
        #[source]
        source: PromptError,
    },
    /// A text prompt could not be synthesised.
    #[error("prompt `{prompt}` ({language}) cannot be synthesised: {source}")]
    Synthesis {
        /// The prompt.
        prompt: String,
        /// Its language.
        language: String,
        /// What went wrong.
        #[source]
        source: TtsError,
    },
}

/// Every prompt of a survey as `Arc<EncodedPrompt>` per (prompt, language,
/// codec): a call's `Play` is a hash lookup and an `Arc` clone, never a
/// file read or an encode.
#[derive(Debug)]
pub struct PromptLibrary {
    prompts: HashMap<(PromptId, Language, AudioCodec), Arc<EncodedPrompt>>,
    beeps: HashMap<AudioCodec, Arc<EncodedPrompt>>,
}

impl PromptLibrary {
    /// Loads recorded prompts from their WAV files and renders text
    /// prompts with `synth` (cached on disk, so a restart renders nothing).
    pub fn load(script: &SurveyScript, synth: &SpeechSynth) -> Result<PromptLibrary, LibraryError> {
        Self::build(script, |prompt, language, source| match source {
            PromptSource::Recorded(path) => read_8khz(path).map_err(|source| LibraryError::Audio {
                prompt: prompt.to_string(),
                language: language.to_string(),
                source,
            }),
            PromptSource::Synthesized { text, voice } => {
                let rendered =
                    synth
                        .render(voice, text)
                        .map_err(|source| LibraryError::Synthesis {
                            prompt: prompt.to_string(),
                            language: language.to_string(),
                            source,
                        })?;
                read_8khz(&rendered.path).map_err(|source| LibraryError::Audio {
                    prompt: prompt.to_string(),
                    language: language.to_string(),
                    source,
                })
            }
        })
    }

    /// Builds the library with `audio` giving the 8 kHz samples of each
    /// prompt version (tests pass tones; [`load`](Self::load) reads files).
    pub fn build<E>(
        script: &SurveyScript,
        mut audio: impl FnMut(&PromptId, &Language, &PromptSource) -> Result<Vec<i16>, E>,
    ) -> Result<PromptLibrary, E>
    where
        E: From<LibraryError>,
    {
        let mut prompts = HashMap::new();
        for prompt in script.prompts.values() {
            for (language, source) in &prompt.versions {
                let samples = audio(&prompt.id, language, source)?;
                for codec in CODECS {
                    let encoded =
                        EncodedPrompt::from_samples(&samples, codec).map_err(|source| {
                            LibraryError::Audio {
                                prompt: prompt.id.to_string(),
                                language: language.to_string(),
                                source,
                            }
                        })?;
                    prompts.insert(
                        (prompt.id.clone(), language.clone(), codec),
                        Arc::new(encoded),
                    );
                }
            }
        }
        let mut beeps = HashMap::new();
        for codec in CODECS {
            let beep =
                beep_prompt(BEEP_HZ, BEEP_MS, codec).map_err(|source| LibraryError::Audio {
                    prompt: "beep".into(),
                    language: "-".into(),
                    source,
                })?;
            beeps.insert(codec, Arc::new(beep));
        }
        Ok(PromptLibrary { prompts, beeps })
    }

    /// The prompt in `language` for `codec`.
    pub fn get(
        &self,
        prompt: &PromptId,
        language: &Language,
        codec: AudioCodec,
    ) -> Option<&Arc<EncodedPrompt>> {
        // The key owns its parts; cloning two `Arc<str>` names is cheap.
        self.prompts.get(&(prompt.clone(), language.clone(), codec))
    }

    /// The beep played before a recording.
    pub fn beep(&self, codec: AudioCodec) -> Option<&Arc<EncodedPrompt>> {
        self.beeps.get(&codec)
    }

    /// Number of (prompt, language, codec) entries.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// True if the survey has no prompts.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

fn read_8khz(path: &Path) -> Result<Vec<i16>, PromptError> {
    Ok(PcmAudio::read_wav(path)?
        .resampled(NARROWBAND_RATE)?
        .to_i16())
}
