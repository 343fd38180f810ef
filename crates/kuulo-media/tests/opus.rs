//! Opus prompts: a 1 kHz tone encoded once into indexed 20 ms frames comes
//! back out of the decoder as a 1 kHz tone at the same level; the decoder
//! refuses garbage with errors, never a panic.

use std::f64::consts::PI;

use kuulo_media::opus::{
    silence_frame, OpusDecoder, OpusEncoder, DEFAULT_BITRATE, MAX_FRAME_BYTES, OPUS_FRAME_UNITS,
};
use kuulo_media::prompt::{EncodedPrompt, PcmAudio, PromptCache};
use kuulo_media::sdp::AudioCodec;

/// A sine of `freq` Hz at `rate`, `secs` long, peak `amplitude` (0-1).
fn sine(rate: u32, freq: f64, secs: f64, amplitude: f64) -> PcmAudio {
    let n = (f64::from(rate) * secs) as usize;
    PcmAudio {
        rate,
        samples: (0..n)
            .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect(),
    }
}

/// Decodes every frame of `prompt` at `rate`.
fn decode_all(prompt: &EncodedPrompt, rate: u32) -> Vec<i16> {
    let mut decoder = OpusDecoder::new(rate).unwrap();
    let per_frame = rate as usize / 50;
    let mut out = vec![0i16; prompt.frame_count() * per_frame];
    for (i, frame) in prompt.frames().enumerate() {
        let n = decoder
            .decode(frame, &mut out[i * per_frame..(i + 1) * per_frame])
            .unwrap();
        assert_eq!(n, per_frame);
    }
    out
}

/// Frequency from the first and last upward zero crossing, interpolated
/// between samples.
fn frequency(samples: &[i16], rate: u32) -> f64 {
    let mut crossings = Vec::new();
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(w[0]), f64::from(w[1]));
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 + a / (a - b));
        }
    }
    let (first, last) = (crossings[0], crossings[crossings.len() - 1]);
    (crossings.len() - 1) as f64 * f64::from(rate) / (last - first)
}

fn rms_dbfs(samples: &[i16]) -> f64 {
    let power = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * power.log10()
}

#[test]
fn a_1khz_tone_survives_the_round_trip() {
    let audio = sine(48000, 1000.0, 1.0, 0.5);
    let prompt = EncodedPrompt::from_audio(&audio, AudioCodec::Opus).unwrap();
    assert_eq!(prompt.codec(), AudioCodec::Opus);
    assert_eq!(prompt.frame_timestamp_units(), OPUS_FRAME_UNITS);
    // One second plus the encoder's lookahead, in whole frames.
    assert!(
        (50..=52).contains(&prompt.frame_count()),
        "{}",
        prompt.frame_count()
    );
    assert_eq!(prompt.frames().len(), prompt.frame_count());
    let bytes: usize = prompt.frames().map(<[u8]>::len).sum();
    assert_eq!(bytes, prompt.data().len());
    assert!(prompt
        .frames()
        .all(|f| !f.is_empty() && f.len() <= MAX_FRAME_BYTES));
    assert!(prompt.frame(prompt.frame_count()).is_none());
    assert!(prompt.frame(usize::MAX).is_none());
    let ms = prompt.duration().as_millis();
    assert!((999..=1001).contains(&ms), "{ms} ms");
    // About the configured bit rate.
    let kbps = bytes as f64 * 8.0 / prompt.play_duration().as_secs_f64() / 1000.0;
    assert!(
        (16.0..=34.0).contains(&kbps),
        "{kbps:.1} kbit/s at {DEFAULT_BITRATE}"
    );

    let input_db = rms_dbfs(&audio.to_i16());
    for rate in [48000, 8000] {
        let decoded = decode_all(&prompt, rate);
        let per_frame = rate as usize / 50;
        // Skip the encoder's start-up and the padded tail.
        let steady = &decoded[5 * per_frame..45 * per_frame];
        let f = frequency(steady, rate);
        assert!((f - 1000.0).abs() < 3.0, "{f:.2} Hz at {rate}");
        let db = rms_dbfs(steady);
        assert!(
            (db - input_db).abs() < 2.0,
            "{db:.2} dBFS vs {input_db:.2} at {rate}"
        );
    }
}

#[test]
fn narrowband_samples_and_files_encode_too() {
    // 8 kHz samples (a beep, a G.711-era recording) go straight in.
    let narrow = sine(8000, 1000.0, 0.5, 0.3).to_i16();
    let prompt = EncodedPrompt::from_samples(&narrow, AudioCodec::Opus).unwrap();
    let decoded = decode_all(&prompt, 8000);
    let f = frequency(&decoded[5 * 160..20 * 160], 8000);
    assert!((f - 1000.0).abs() < 3.0, "{f:.2} Hz");

    let dir = std::env::temp_dir().join(format!("kuulo-opus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tone.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for s in sine(44100, 1000.0, 0.5, 0.3).to_i16() {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();

    let mut cache = PromptCache::new();
    let opus = cache.load(&path, AudioCodec::Opus).unwrap();
    let pcmu = cache.load(&path, AudioCodec::Pcmu).unwrap();
    let pcma = cache.load(&path, AudioCodec::Pcma).unwrap();
    assert_eq!(cache.len(), 3);
    assert_eq!(opus.codec(), AudioCodec::Opus);
    assert_eq!((pcmu.frame_count(), pcma.frame_count()), (25, 25));
    assert!((25..=27).contains(&opus.frame_count()));
    // Each rate's resampler rounds the length its own way.
    let diff = opus.duration().abs_diff(pcmu.duration());
    assert!(diff < std::time::Duration::from_millis(1), "{diff:?}");
    let again = cache.load(&path, AudioCodec::Opus).unwrap();
    assert!(std::sync::Arc::ptr_eq(&opus, &again));
    let decoded = decode_all(&opus, 48000);
    let f = frequency(&decoded[5 * 960..20 * 960], 48000);
    assert!((f - 1000.0).abs() < 3.0, "{f:.2} Hz");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shared_silence_frame_decodes_to_silence() {
    let frame = silence_frame().unwrap();
    assert!(
        !frame.is_empty() && frame.len() < 40,
        "{} bytes",
        frame.len()
    );
    assert!(std::ptr::eq(frame, silence_frame().unwrap()));
    let mut decoder = OpusDecoder::new(8000).unwrap();
    let mut pcm = [0i16; 160];
    for _ in 0..5 {
        assert_eq!(decoder.decode(frame, &mut pcm).unwrap(), 160);
    }
    assert!(pcm.iter().all(|s| s.abs() < 8), "{pcm:?}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let mut decoder = OpusDecoder::new(8000).unwrap();
    let mut pcm = [0i16; 160];
    assert!(decoder.decode(&[], &mut pcm).is_err());
    // Code 3 (a frame count byte must follow) without the count.
    assert!(decoder.decode(&[0x03], &mut pcm).is_err());
    // The encoder takes only whole Opus frame sizes (12.5 ms is none).
    let mut encoder = OpusEncoder::new(8000, DEFAULT_BITRATE).unwrap();
    let mut packet = [0u8; MAX_FRAME_BYTES];
    let n = encoder.encode(&[0i16; 160], &mut packet).unwrap();
    assert!(n > 0);
    assert!(encoder.encode(&[0i16; 100], &mut packet).is_err());
    // Random bytes: errors or noise, but never a panic or a short frame.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut errors = 0;
    for len in 0..2000usize {
        let bytes: Vec<u8> = (0..len % 300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        match decoder.decode(&bytes, &mut pcm) {
            Ok(n) => assert!(n <= 160),
            Err(e) => {
                assert_eq!(e.operation(), "decode");
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
    assert_eq!(decoder.conceal(&mut pcm).unwrap(), 160);
}
