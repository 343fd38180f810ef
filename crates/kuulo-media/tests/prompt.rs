//! Prompts from WAV files of several forms: length, framing, and that a
//! 1 kHz tone comes out of the resampler and encoder as a 1 kHz tone.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kuulo_media::g711::Law;
use kuulo_media::prompt::{
    EncodedPrompt, PcmAudio, PromptCache, PromptError, PromptKey, FRAME_SAMPLES,
};
use kuulo_media::sdp::AudioCodec;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kuulo-prompt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sine(rate: u32, freq: f64, secs: f64, amplitude: f64) -> Vec<f64> {
    let n = (f64::from(rate) * secs).round() as usize;
    (0..n)
        .map(|i| amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin())
        .collect()
}

fn write_int(path: &Path, rate: u32, channels: u16, bits: u16, mono: &[f64]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let full = ((1i64 << (bits - 1)) - 1) as f64;
    for &s in mono {
        for _ in 0..channels {
            let v = (s * full).round() as i32;
            if bits == 8 {
                w.write_sample(v as i8).unwrap();
            } else if bits == 16 {
                w.write_sample(v as i16).unwrap();
            } else {
                w.write_sample(v).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

fn write_float(path: &Path, rate: u32, channels: u16, mono: &[f64]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in mono {
        for _ in 0..channels {
            w.write_sample(s as f32).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn decode(prompt: &EncodedPrompt) -> Vec<i16> {
    let law = match prompt.codec() {
        AudioCodec::Pcma => Law::Alaw,
        _ => Law::Ulaw,
    };
    let mut out = Vec::new();
    for frame in prompt.frames() {
        let mut pcm = [0i16; FRAME_SAMPLES];
        law.decode(frame, &mut pcm);
        out.extend_from_slice(&pcm);
    }
    out
}

/// Frequency by counting upward zero crossings over the middle of the
/// signal, away from the resampler's edges.
fn frequency(samples: &[i16], rate: f64) -> f64 {
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let ups: Vec<usize> = mid
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (ups[0], *ups.last().unwrap());
    (ups.len() - 1) as f64 * rate / (last - first) as f64
}

fn rms_dbfs(samples: &[i16]) -> f64 {
    let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let p: f64 = mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64;
    10.0 * (p / 32768f64.powi(2)).log10()
}

/// A full-scale-relative sine of amplitude `a` has an RMS of a/sqrt(2).
fn sine_dbfs(a: f64) -> f64 {
    20.0 * (a / 2f64.sqrt()).log10()
}

fn check_tone(prompt: &EncodedPrompt, secs: f64, amplitude: f64) {
    // The writer rounds to whole input samples, so allow one frame either way.
    let expected_frames = (secs * 8000.0 / FRAME_SAMPLES as f64).ceil() as usize;
    assert!(prompt.frame_count().abs_diff(expected_frames) <= 1);
    let expected_frames = prompt.frame_count();
    let d = prompt.duration().as_secs_f64();
    assert!((d - secs).abs() < 0.002, "duration {d} vs {secs}");
    assert_eq!(prompt.frames().len(), expected_frames);
    assert!(prompt.frames().all(|f| f.len() == FRAME_SAMPLES));
    let pcm = decode(prompt);
    let f = frequency(&pcm, 8000.0);
    assert!((f - 1000.0).abs() < 2.0, "frequency {f}");
    let level = rms_dbfs(&pcm);
    let want = sine_dbfs(amplitude);
    assert!(
        (level - want).abs() < 1.0,
        "level {level} dBFS, want {want}"
    );
}

#[test]
fn stereo_44k1_16bit_sine_survives_as_pcmu() {
    let dir = TempDir::new("stereo");
    let path = dir.path("tone.wav");
    write_int(&path, 44_100, 2, 16, &sine(44_100, 1000.0, 1.0, 0.5));
    let p = EncodedPrompt::from_wav(&path, AudioCodec::Pcmu).unwrap();
    assert_eq!(p.codec(), AudioCodec::Pcmu);
    check_tone(&p, 1.0, 0.5);
}

#[test]
fn mono_16k_float_sine_survives_as_pcma() {
    let dir = TempDir::new("float");
    let path = dir.path("tone.wav");
    write_float(&path, 16_000, 1, &sine(16_000, 1000.0, 0.73, 0.3));
    let p = EncodedPrompt::from_wav(&path, AudioCodec::Pcma).unwrap();
    check_tone(&p, 0.73, 0.3);
}

#[test]
fn every_integer_width_and_48k_six_channels() {
    let dir = TempDir::new("widths");
    for (bits, rate, channels) in [
        (8, 8000, 1),
        (16, 22_050, 3),
        (24, 48_000, 6),
        (32, 11_025, 2),
    ] {
        let path = dir.path(&format!("t{bits}.wav"));
        write_int(&path, rate, channels, bits, &sine(rate, 1000.0, 0.5, 0.4));
        let p = EncodedPrompt::from_wav(&path, AudioCodec::Pcmu).unwrap();
        check_tone(&p, 0.5, 0.4);
    }
}

#[test]
fn downmix_averages_channels() {
    let dir = TempDir::new("downmix");
    let path = dir.path("lr.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for _ in 0..100 {
        w.write_sample(10_000i16).unwrap();
        w.write_sample(-2_000i16).unwrap();
    }
    w.finalize().unwrap();
    let audio = PcmAudio::read_wav(&path).unwrap();
    assert_eq!(audio.rate, 8000);
    assert_eq!(audio.samples.len(), 100);
    assert!(audio.to_i16().iter().all(|&s| s == 4000));
}

#[test]
fn resample_to_48k_for_wideband() {
    let audio = PcmAudio {
        rate: 8000,
        samples: sine(8000, 1000.0, 0.5, 0.5)
            .iter()
            .map(|&s| s as f32)
            .collect(),
    };
    let wide = audio.resampled(48_000).unwrap();
    assert_eq!(wide.rate, 48_000);
    assert!((wide.samples.len() as i64 - 24_000).abs() <= 1);
    let f = frequency(&wide.to_i16(), 48_000.0);
    assert!((f - 1000.0).abs() < 2.0, "frequency {f}");
}

#[test]
fn frames_are_slices_of_one_shared_buffer() {
    let samples: Vec<i16> = (0..1000).map(|i| (i * 7) as i16).collect();
    let p = EncodedPrompt::from_samples(&samples, AudioCodec::Pcmu).unwrap();
    assert_eq!(p.frame_count(), 7);
    let base = p.data().as_ptr();
    for (i, f) in p.frames().enumerate() {
        assert_eq!(f.as_ptr(), base.wrapping_add(i * FRAME_SAMPLES));
        assert_eq!(p.frame(i), Some(f));
    }
    assert_eq!(p.frame(7), None);
    assert_eq!(p.frame(usize::MAX), None);
    // The padding of the last frame is mu-law silence.
    assert!(p.frame(6).unwrap()[40..].iter().all(|&b| b == 0xFF));
    let clone = p.clone();
    assert!(Arc::ptr_eq(clone.data(), p.data()));
}

#[test]
fn cache_loads_once_per_codec() {
    let dir = TempDir::new("cache");
    let path = dir.path("q1.wav");
    write_int(&path, 16_000, 1, 16, &sine(16_000, 1000.0, 0.2, 0.5));
    let mut cache = PromptCache::new();
    let a = cache.load(&path, AudioCodec::Pcmu).unwrap();
    let b = cache.load(&path, AudioCodec::Pcmu).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let c = cache.load(&path, AudioCodec::Pcma).unwrap();
    assert_eq!(c.codec(), AudioCodec::Pcma);
    assert_eq!(c.frame_count(), a.frame_count());
    assert_eq!(cache.len(), 2);
    // Served from the cache even after the file is gone.
    std::fs::remove_file(&path).unwrap();
    assert!(cache.load(&path, AudioCodec::Pcma).is_ok());
    let key = PromptKey::Path(path.clone());
    assert!(cache.get(&key, AudioCodec::Pcmu).is_some());
    cache.remove(&key);
    assert!(cache.is_empty());
    assert!(matches!(
        cache.load(&path, AudioCodec::Pcmu),
        Err(PromptError::NotFound(_))
    ));

    let beep = EncodedPrompt::from_samples(&[1000; 800], AudioCodec::Pcmu).unwrap();
    cache.insert("beep", beep);
    assert!(cache
        .get(&PromptKey::Id("beep".into()), AudioCodec::Pcmu)
        .is_some());
}

#[test]
fn typed_errors() {
    let dir = TempDir::new("errors");
    let missing = dir.path("nope.wav");
    assert!(matches!(
        EncodedPrompt::from_wav(&missing, AudioCodec::Pcmu),
        Err(PromptError::NotFound(p)) if p == missing
    ));

    let garbage = dir.path("garbage.wav");
    std::fs::write(&garbage, b"this is not a RIFF file at all").unwrap();
    assert!(matches!(
        EncodedPrompt::from_wav(&garbage, AudioCodec::Pcmu),
        Err(PromptError::UnsupportedFormat { .. })
    ));

    let truncated = dir.path("truncated.wav");
    std::fs::write(&truncated, b"RIFF").unwrap();
    let e = EncodedPrompt::from_wav(&truncated, AudioCodec::Pcmu).unwrap_err();
    assert!(matches!(e, PromptError::UnsupportedFormat { .. }), "{e:?}");

    let empty = dir.path("empty.wav");
    write_int(&empty, 8000, 1, 16, &[]);
    assert!(matches!(
        EncodedPrompt::from_wav(&empty, AudioCodec::Pcmu),
        Err(PromptError::Empty(_))
    ));

    assert!(matches!(
        EncodedPrompt::from_samples_at(&[0; 960], 48000, AudioCodec::Pcmu),
        Err(PromptError::Rate {
            codec: AudioCodec::Pcmu,
            rate: 48000
        })
    ));
    assert!(matches!(
        EncodedPrompt::from_samples_at(&[0; 882], 44100, AudioCodec::Opus),
        Err(PromptError::Rate {
            codec: AudioCodec::Opus,
            rate: 44100
        })
    ));
}
