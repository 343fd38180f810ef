//! Prompt synthesis: text prompts spoken by espeak-ng, as 8 kHz mono 16-bit
//! WAV files ready for the media layer.
//!
//! A survey names text for prompts that have no recording yet. A campaign
//! plays each prompt to thousands of callers, so [`SpeechSynth`] renders
//! each (voice, text) once and keeps the file in a cache folder keyed by a
//! hash of the voice, the text and the espeak-ng version: a new espeak-ng
//! renders afresh, an unchanged prompt is never rendered twice.
//!
//! espeak-ng writes 22.05 kHz audio at full scale; `sox` converts it to
//! 8 kHz when it is installed, otherwise a windowed-sinc resampler here
//! does. Both first lower the level by [`HEADROOM_DB`], because the
//! resampling filter overshoots on full-scale peaks and would clip them.
//! sox runs in repeatable mode, so the same text renders to the same bytes.
//!
//! espeak-ng is looked for when a [`SpeechSynth`] is made, but only needed
//! when a prompt is actually rendered: a survey whose prompts are all
//! recordings runs on a machine without it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Sample rate of every rendered prompt: narrowband telephony.
pub const SAMPLE_RATE: u32 = 8_000;

/// Bumped when the rendering pipeline changes, so old cache entries are
/// not reused for output that would now differ.
const PIPELINE_VERSION: &str = "kuulo-tts-2";

/// Gain applied before resampling, in dB. The resampler's low-pass filter
/// rings on espeak-ng's full-scale peaks and overshoots them by a fraction
/// of a dB (sox reported "rate clipped" on survey prompts); 1 dB is enough
/// room and barely changes the loudness.
pub const HEADROOM_DB: f64 = -1.0;

/// Why a prompt could not be synthesised.
#[derive(Debug, Error)]
pub enum TtsError {
    /// espeak-ng is not on `PATH`, and a prompt had to be rendered.
    #[error("espeak-ng is not installed; install it with `apt-get install espeak-ng`, or record the prompt as a WAV file")]
    EspeakMissing,
    /// The voice name could be read as a command-line option.
    #[error("voice {0:?} is not a valid espeak-ng voice name; use a language code such as fi, sv or en (see `espeak-ng --voices`)")]
    BadVoice(String),
    /// espeak-ng ran but failed.
    #[error("espeak-ng failed for voice {voice:?} ({status}): {stderr}; check the voice with `espeak-ng --voices`")]
    Espeak {
        /// The voice asked for.
        voice: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        stderr: String,
    },
    /// sox ran but failed to convert the audio.
    #[error("sox failed to convert {} to 8 kHz ({status}): {stderr}", path.display())]
    Sox {
        /// The file being converted.
        path: PathBuf,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        stderr: String,
    },
    /// A file in the cache could not be written or read.
    #[error("cannot write {}: {source}; check that the cache folder is writable (choose another with --cache)", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The built-in resampler could not read espeak-ng's WAV or write the
    /// 8 kHz one.
    #[error("cannot resample {} to 8 kHz: {source}; check the espeak-ng installation and free disk space, or install sox", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: hound::Error,
    },
}

/// A rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The 8 kHz mono 16-bit WAV file in the cache.
    pub path: PathBuf,
    /// True if the file was already in the cache and nothing was run.
    pub cached: bool,
}

/// How 22.05 kHz espeak-ng output becomes 8 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampler {
    /// The `sox` command (better filters, and the tool the prompt scripts use).
    Sox,
    /// The resampler in this module, when sox is not installed.
    Builtin,
}

/// Renders text prompts with espeak-ng into a cache folder.
///
/// Safe to share between threads; concurrent renders of the same prompt
/// both succeed and leave one file, because each writes a private temporary
/// file and renames it into place.
#[derive(Debug)]
pub struct SpeechSynth {
    cache_dir: PathBuf,
    /// `None` when espeak-ng is not installed: every render then fails
    /// with [`TtsError::EspeakMissing`], and nothing else does.
    engine_version: Option<String>,
    resampler: Resampler,
    spawned: AtomicU64,
    temp_seq: AtomicU64,
}

impl SpeechSynth {
    /// Looks for espeak-ng (and sox) and uses `cache_dir` for the rendered
    /// files, creating it if needed.
    ///
    /// A missing espeak-ng is not an error here: survey start-up makes a
    /// synthesiser whether or not any prompt needs one, and a survey whose
    /// prompts are all recordings must run without espeak-ng. Rendering
    /// then fails with [`TtsError::EspeakMissing`]; check
    /// [`engine_version`](Self::engine_version) to know beforehand.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<SpeechSynth, TtsError> {
        let engine_version = probe("espeak-ng");
        let resampler = if probe("sox").is_some() {
            Resampler::Sox
        } else {
            Resampler::Builtin
        };
        Self::with_resampler(cache_dir, engine_version, resampler)
    }

    /// Like [`SpeechSynth::new`] but with a chosen resampler and espeak-ng
    /// version (`None`: espeak-ng is missing). Tests use it to exercise the
    /// built-in resampler, or a machine without espeak-ng, on any machine.
    pub fn with_resampler(
        cache_dir: impl Into<PathBuf>,
        engine_version: Option<String>,
        resampler: Resampler,
    ) -> Result<SpeechSynth, TtsError> {
        let cache_dir = cache_dir.into();
        std::fs::create_dir_all(&cache_dir).map_err(|source| TtsError::Io {
            path: cache_dir.clone(),
            source,
        })?;
        Ok(SpeechSynth {
            cache_dir,
            engine_version,
            resampler,
            spawned: AtomicU64::new(0),
            temp_seq: AtomicU64::new(0),
        })
    }

    /// The first line of `espeak-ng --version`, part of every cache key;
    /// `None` if espeak-ng is not installed.
    pub fn engine_version(&self) -> Option<&str> {
        self.engine_version.as_deref()
    }

    /// Which resampler is in use.
    pub fn resampler(&self) -> Resampler {
        self.resampler
    }

    /// How many external processes rendering has started (the probe in
    /// [`SpeechSynth::new`] is not counted). A cache hit starts none.
    pub fn processes_spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Where the rendering of `text` in `voice` is (or will be) cached.
    /// Without espeak-ng no rendering is ever cached, so the path is only
    /// a name.
    pub fn cache_path(&self, voice: &str, text: &str) -> PathBuf {
        let mut hash = Sha256::new();
        let engine = self.engine_version.as_deref().unwrap_or_default();
        // Length prefixes keep ("a", "bc") and ("ab", "c") apart.
        for part in [PIPELINE_VERSION, engine, voice, text] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.cache_dir.join(format!("{hex}.wav"))
    }

    /// Returns the 8 kHz WAV of `text` spoken in `voice`, rendering it only
    /// if the cache does not have it yet.
    pub fn render(&self, voice: &str, text: &str) -> Result<Rendered, TtsError> {
        if voice.is_empty()
            || voice.starts_with('-')
            || !voice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'))
        {
            return Err(TtsError::BadVoice(voice.to_owned()));
        }
        // The cache is keyed by the espeak-ng version, so without espeak-ng
        // there is no entry to reuse either.
        if self.engine_version.is_none() {
            return Err(TtsError::EspeakMissing);
        }
        let path = self.cache_path(voice, text);
        if path.is_file() {
            return Ok(Rendered { path, cached: true });
        }
        let seq = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        let stem = format!(".tmp-{}-{seq}", std::process::id());
        let raw = self.cache_dir.join(format!("{stem}-raw.wav"));
        let out = self.cache_dir.join(format!("{stem}.wav"));
        let result = self
            .espeak(voice, text, &raw)
            .and_then(|()| self.to_8khz(&raw, &out))
            .and_then(|()| {
                // The rename is atomic, so a reader never sees half a file.
                std::fs::rename(&out, &path).map_err(|source| TtsError::Io {
                    path: path.clone(),
                    source,
                })
            });
        let _ = std::fs::remove_file(&raw);
        if result.is_err() {
            let _ = std::fs::remove_file(&out);
        }
        result.map(|()| Rendered {
            path,
            cached: false,
        })
    }

    fn espeak(&self, voice: &str, text: &str, wav: &Path) -> Result<(), TtsError> {
        self.spawned.fetch_add(1, Ordering::Relaxed);
        // Text goes through stdin, never argv: a prompt starting with `-`
        // must not be read as an option.
        let mut child = Command::new("espeak-ng")
            .args(["-b", "1", "-v", voice, "-w"])
            .arg(wav)
            .arg("--stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => TtsError::EspeakMissing,
                _ => TtsError::Io {
                    path: PathBuf::from("espeak-ng"),
                    source: e,
                },
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|source| TtsError::Io {
                    path: PathBuf::from("espeak-ng (stdin)"),
                    source,
                })?;
        }
        let output = child.wait_with_output().map_err(|source| TtsError::Io {
            path: PathBuf::from("espeak-ng"),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        // Older espeak-ng releases exit 0 for an unknown voice and only say
        // so on stderr.
        if !output.status.success() || stderr.contains("Failed") || !wav.is_file() {
            return Err(TtsError::Espeak {
                voice: voice.to_owned(),
                status: output.status,
                stderr,
            });
        }
        Ok(())
    }

    fn to_8khz(&self, from: &Path, to: &Path) -> Result<(), TtsError> {
        match self.resampler {
            Resampler::Sox => {
                self.spawned.fetch_add(1, Ordering::Relaxed);
                // -R: the dither sox adds when it writes 16 bits is seeded
                // the same way every run, so a re-render (another machine,
                // a wiped cache) gives the same bytes.
                let output = Command::new("sox")
                    .arg("-R")
                    .arg(from)
                    .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
                    .arg(to)
                    .args(["gain", &HEADROOM_DB.to_string(), "rate", "8000"])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|source| TtsError::Io {
                        path: PathBuf::from("sox"),
                        source,
                    })?;
                if !output.status.success() {
                    return Err(TtsError::Sox {
                        path: from.to_path_buf(),
                        status: output.status,
                        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                    });
                }
                // Warnings (clipping above all) mean the prompt sounds worse
                // than it should: worth a line in the log, not a failure.
                let warnings = String::from_utf8_lossy(&output.stderr);
                if !warnings.trim().is_empty() {
                    tracing::warn!(file = %from.display(), sox = %warnings.trim(), "sox warned while converting a prompt");
                }
                Ok(())
            }
            Resampler::Builtin => {
                let wav_err = |source| TtsError::Wav {
                    path: from.to_path_buf(),
                    source,
                };
                let reader = hound::WavReader::open(from).map_err(wav_err)?;
                let spec = reader.spec();
                let gain = 10f32.powf(HEADROOM_DB as f32 / 20.0);
                let samples: Vec<f32> = read_mono(reader)
                    .map_err(wav_err)?
                    .into_iter()
                    .map(|s| s * gain)
                    .collect();
                let out = resample(&samples, spec.sample_rate, SAMPLE_RATE);
                write_wav(to, &out).map_err(|source| TtsError::Wav {
                    path: to.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// First line of `TOOL --version`, or `None` if it cannot be run.
fn probe(tool: &str) -> Option<String> {
    let output = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().next().unwrap_or(tool).trim().to_owned())
}

/// Reads 16-bit PCM, averaging channels to mono.
fn read_mono(
    reader: hound::WavReader<std::io::BufReader<std::fs::File>>,
) -> hound::Result<Vec<f32>> {
    let channels = usize::from(reader.spec().channels.max(1));
    let all: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
    Ok(all
        .chunks(channels)
        .map(|frame| frame.iter().map(|&s| f32::from(s)).sum::<f32>() / frame.len() as f32)
        .collect())
}

fn write_wav(path: &Path, samples: &[i16]) -> hound::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for &s in samples {
        writer.write_sample(s)?;
    }
    writer.finalize()
}

/// Band-limited resampling with a Blackman-windowed sinc. The low-pass sits
/// just under the lower Nyquist frequency, so speech energy above 4 kHz does
/// not fold back as hiss.
pub fn resample(input: &[f32], from_rate: u32, to_rate: u32) -> Vec<i16> {
    if input.is_empty() || from_rate == 0 || to_rate == 0 {
        return Vec::new();
    }
    let ratio = f64::from(from_rate) / f64::from(to_rate);
    // Cutoff as a fraction of the input rate; 0.45 of the lower rate leaves
    // room for the filter's transition band.
    let cutoff = 0.45 * f64::from(from_rate.min(to_rate)) / f64::from(from_rate);
    let half_width = 16.0 * ratio.max(1.0);
    let out_len = ((input.len() as f64) / ratio).floor() as usize;
    (0..out_len)
        .map(|n| {
            let centre = n as f64 * ratio;
            let first = (centre - half_width).ceil().max(0.0) as usize;
            let last = ((centre + half_width).floor() as usize).min(input.len() - 1);
            let mut acc = 0.0f64;
            let mut norm = 0.0f64;
            for (k, &x) in input.iter().enumerate().take(last + 1).skip(first) {
                let t = k as f64 - centre;
                let w = window(t / half_width);
                let h = 2.0 * cutoff * sinc(2.0 * cutoff * t) * w;
                acc += f64::from(x) * h;
                norm += h;
            }
            // Normalising by the tap sum keeps the DC gain at one near the
            // edges, where the kernel is cut short.
            let y = if norm.abs() > 1e-9 { acc / norm } else { 0.0 };
            y.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        })
        .collect()
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Blackman window over -1..=1.
fn window(x: f64) -> f64 {
    if x.abs() > 1.0 {
        return 0.0;
    }
    let p = std::f64::consts::PI * (x + 1.0);
    0.42 - 0.5 * p.cos() + 0.08 * (2.0 * p).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a synthesiser, or prints why the test is skipped.
    fn synth(dir: &Path, resampler: Option<Resampler>) -> Option<SpeechSynth> {
        let s = SpeechSynth::new(dir).unwrap();
        let Some(version) = s.engine_version() else {
            eprintln!("skipped: espeak-ng is not installed (apt-get install espeak-ng)");
            return None;
        };
        match resampler {
            Some(r) => Some(SpeechSynth::with_resampler(dir, Some(version.to_owned()), r).unwrap()),
            None => Some(s),
        }
    }

    fn samples(path: &Path) -> Vec<i16> {
        hound::WavReader::open(path)
            .unwrap()
            .into_samples::<i16>()
            .map(Result::unwrap)
            .collect()
    }

    fn assert_telephony_wav(path: &Path) {
        let reader = hound::WavReader::open(path).unwrap();
        let spec = reader.spec();
        assert_eq!(spec.sample_rate, SAMPLE_RATE);
        assert_eq!(spec.channels, 1);
        assert_eq!(spec.bits_per_sample, 16);
        // More than half a second of speech.
        assert!(
            reader.duration() > 4_000,
            "only {} samples",
            reader.duration()
        );
    }

    #[test]
    fn second_render_is_a_cache_hit_without_a_process() {
        let dir = tempfile::tempdir().unwrap();
        let Some(synth) = synth(dir.path(), None) else {
            return;
        };
        let first = synth.render("fi", "Hei, täällä kaupunki.").unwrap();
        assert!(!first.cached);
        assert_telephony_wav(&first.path);
        let spawned = synth.processes_spawned();
        assert!(spawned >= 1);

        let again = synth.render("fi", "Hei, täällä kaupunki.").unwrap();
        assert_eq!(
            again,
            Rendered {
                path: first.path.clone(),
                cached: true
            }
        );
        assert_eq!(synth.processes_spawned(), spawned);

        // A fresh synthesiser over the same folder hits the cache too.
        let other = SpeechSynth::new(dir.path()).unwrap();
        assert!(other.render("fi", "Hei, täällä kaupunki.").unwrap().cached);
        assert_eq!(other.processes_spawned(), 0);

        // Only the finished file is left: no temporary files.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn voice_and_text_both_key_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            SpeechSynth::with_resampler(dir.path(), Some("v1".into()), Resampler::Builtin).unwrap();
        let a = s.cache_path("fi", "Kiitos");
        assert_ne!(a, s.cache_path("sv", "Kiitos"));
        assert_ne!(a, s.cache_path("fi", "Kiitos!"));
        let newer =
            SpeechSynth::with_resampler(dir.path(), Some("v2".into()), Resampler::Builtin).unwrap();
        assert_ne!(a, newer.cache_path("fi", "Kiitos"));
        assert_eq!(a, s.cache_path("fi", "Kiitos"));
    }

    #[test]
    fn builtin_resampler_renders_every_survey_language() {
        let dir = tempfile::tempdir().unwrap();
        let Some(synth) = synth(dir.path(), Some(Resampler::Builtin)) else {
            return;
        };
        for (voice, text) in [
            ("fi", "Paina yksi."),
            ("sv", "Tryck ett."),
            ("en", "Press one."),
        ] {
            let r = synth.render(voice, text).unwrap();
            assert_telephony_wav(&r.path);
        }
    }

    #[test]
    fn bad_voices_are_refused_before_running_anything() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            SpeechSynth::with_resampler(dir.path(), Some("v".into()), Resampler::Builtin).unwrap();
        for voice in ["", "--help", "fi; rm", "fi sv"] {
            assert!(
                matches!(s.render(voice, "x"), Err(TtsError::BadVoice(_))),
                "{voice}"
            );
        }
        assert_eq!(s.processes_spawned(), 0);
    }

    /// One of the example surveys' prompts: espeak-ng's full-scale peaks
    /// in it made sox clip ("rate clipped 1 samples") without headroom.
    const CLIPPED_WITHOUT_HEADROOM: &str = "Kerro vielä omin sanoin, mikä asioinnissa onnistui ja \
        mitä voisimme parantaa. Puhu äänimerkin jälkeen ja paina lopuksi risuaitaa.";

    #[test]
    fn sox_renders_are_repeatable_and_unclipped() {
        if probe("sox").is_none() {
            eprintln!("skipped: sox is not installed (apt-get install sox)");
            return;
        }
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (Some(first), Some(second)) = (
            synth(a.path(), Some(Resampler::Sox)),
            synth(b.path(), Some(Resampler::Sox)),
        ) else {
            return;
        };
        let one = first.render("fi", CLIPPED_WITHOUT_HEADROOM).unwrap();
        let two = second.render("fi", CLIPPED_WITHOUT_HEADROOM).unwrap();
        assert!(!one.cached && !two.cached);
        // Two caches (two machines, or one wiped) hold the same bytes.
        assert_eq!(
            std::fs::read(&one.path).unwrap(),
            std::fs::read(&two.path).unwrap()
        );
        let pcm = samples(&one.path);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        let peak_db = 20.0 * (f64::from(peak) / 32_768.0).log10();
        // Below full scale by about the headroom: not clipped, not quiet.
        assert!((-3.0..-0.3).contains(&peak_db), "peak {peak_db:.2} dBFS");
    }

    #[test]
    fn builtin_resampler_keeps_the_same_headroom() {
        let dir = tempfile::tempdir().unwrap();
        let Some(synth) = synth(dir.path(), Some(Resampler::Builtin)) else {
            return;
        };
        let r = synth.render("fi", CLIPPED_WITHOUT_HEADROOM).unwrap();
        let peak = samples(&r.path)
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        let peak_db = 20.0 * (f64::from(peak) / 32_768.0).log10();
        assert!((-3.0..-0.3).contains(&peak_db), "peak {peak_db:.2} dBFS");
    }

    #[test]
    fn without_espeak_only_rendering_fails() {
        let dir = tempfile::tempdir().unwrap();
        let s = SpeechSynth::with_resampler(dir.path(), None, Resampler::Builtin).unwrap();
        assert_eq!(s.engine_version(), None);
        let err = s.render("en", "Press one.").unwrap_err();
        assert!(matches!(err, TtsError::EspeakMissing), "{err}");
        assert!(
            err.to_string().contains("apt-get install espeak-ng"),
            "{err}"
        );
        assert_eq!(s.processes_spawned(), 0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn unknown_voice_is_an_error_not_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let Some(synth) = synth(dir.path(), None) else {
            return;
        };
        let err = synth.render("xx-nonexistent", "hello").unwrap_err();
        assert!(matches!(err, TtsError::Espeak { .. }), "{err}");
        assert!(!synth.cache_path("xx-nonexistent", "hello").exists());
    }

    #[test]
    fn resampler_keeps_a_low_tone_and_drops_a_high_one() {
        let rate = 22_050u32;
        let tone = |f: f64| -> Vec<f32> {
            (0..rate)
                .map(|n| {
                    (10_000.0
                        * (2.0 * std::f64::consts::PI * f * f64::from(n) / f64::from(rate)).sin())
                        as f32
                })
                .collect()
        };
        let rms = |s: &[i16]| -> f64 {
            let mid = &s[1000..s.len() - 1000];
            (mid.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / mid.len() as f64).sqrt()
        };
        let low = resample(&tone(440.0), rate, SAMPLE_RATE);
        assert_eq!(low.len(), 8_000);
        assert!(
            (rms(&low) - 10_000.0 / 2f64.sqrt()).abs() < 300.0,
            "{}",
            rms(&low)
        );
        let high = resample(&tone(6_000.0), rate, SAMPLE_RATE);
        assert!(rms(&high) < 200.0, "aliased: {}", rms(&high));
    }
}
