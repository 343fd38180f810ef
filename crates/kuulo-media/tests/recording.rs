//! The recorder on synthetic audio: tone bursts stand in for speech.

use std::time::{Duration, Instant};

use kuulo_media::recording::{
    beep_frames, beep_prompt, frame_dbfs, Recorder, Recording, RecordingConfig, RecordingOutcome,
};
use kuulo_media::sdp::AudioCodec;

const FRAME: usize = 160;
const TICK: Duration = Duration::from_millis(20);

fn tone_frame(index: usize, amplitude: f32) -> [i16; FRAME] {
    let mut f = [0i16; FRAME];
    for (i, s) in f.iter_mut().enumerate() {
        let n = (index * FRAME + i) as f32;
        *s = (amplitude * (2.0 * std::f32::consts::PI * 440.0 * n / 8000.0).sin()) as i16;
    }
    f
}

/// Low noise well under the threshold: a real line is never digital zero.
fn noise_frame(index: usize) -> [i16; FRAME] {
    let mut f = [0i16; FRAME];
    let mut x = (index as u32).wrapping_mul(2_654_435_761).wrapping_add(1);
    for s in f.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *s = (x % 61) as i16 - 30;
    }
    f
}

/// Plays `script` (true = a speech frame) into a recorder until it ends;
/// returns the recording and the number of frames pushed.
fn run(
    config: RecordingConfig,
    script: impl Fn(usize) -> bool,
    limit: usize,
) -> (Recording, usize) {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0, config);
    for i in 0..limit {
        let now = t0 + TICK * (i as u32 + 1);
        let frame = if script(i) {
            tone_frame(i, 8000.0)
        } else {
            noise_frame(i)
        };
        if r.push(now, &frame).is_some() {
            return (r.finish(), i + 1);
        }
    }
    (r.finish(), limit)
}

#[test]
fn silence_after_speech_ends_and_trims() {
    let config = RecordingConfig {
        end_silence: Duration::from_millis(1000),
        trim_margin: Duration::from_millis(100),
        ..Default::default()
    };
    // 1 s of quiet, 1.5 s of speech, then quiet.
    let (rec, frames) = run(config, |i| (50..125).contains(&i), 10_000);
    assert_eq!(rec.outcome, RecordingOutcome::Silence);
    assert!(rec.heard_speech);
    // Ends 1 s (50 frames) after the last speech frame.
    assert_eq!(frames, 125 + 50);
    // Speech plus 100 ms either side.
    assert_eq!(rec.samples.len(), (75 + 5 + 5) * FRAME);
    assert_eq!(rec.duration(), Duration::from_millis(1700));
    // The kept audio starts and ends with the margins' quiet.
    assert!(frame_dbfs(&rec.samples[..FRAME]) < -40.0);
    assert!(frame_dbfs(&rec.samples[5 * FRAME..6 * FRAME]) > -20.0);
}

#[test]
fn no_speech_has_its_own_longer_timeout() {
    let config = RecordingConfig {
        no_speech_timeout: Duration::from_secs(3),
        end_silence: Duration::from_secs(1),
        ..Default::default()
    };
    let (rec, frames) = run(config, |_| false, 10_000);
    assert_eq!(rec.outcome, RecordingOutcome::NoSpeech);
    assert!(!rec.heard_speech);
    assert_eq!(frames, 150);
    assert!(rec.samples.is_empty(), "nothing worth keeping");
}

#[test]
fn max_length_cuts_a_long_answer() {
    let config = RecordingConfig {
        max_length: Duration::from_secs(4),
        ..Default::default()
    };
    let (rec, frames) = run(config, |i| i >= 10, 10_000);
    assert_eq!(rec.outcome, RecordingOutcome::MaxLength);
    assert_eq!(frames, 200);
    // Leading quiet trimmed down to the margin (200 ms = 10 frames).
    assert_eq!(rec.samples.len(), 200 * FRAME);
}

#[test]
fn a_click_is_not_speech() {
    let config = RecordingConfig {
        no_speech_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    // A single 20 ms burst is shorter than `min_speech` (60 ms).
    let (rec, _) = run(config, |i| i == 20 || i == 40, 10_000);
    assert_eq!(rec.outcome, RecordingOutcome::NoSpeech);
}

#[test]
fn pauses_between_words_are_kept() {
    let config = RecordingConfig {
        end_silence: Duration::from_millis(800),
        ..Default::default()
    };
    // Words with 500 ms pauses: the hangover bridges them.
    let (rec, frames) = run(
        config,
        |i| (10..30).contains(&i) || (55..70).contains(&i) || (95..120).contains(&i),
        10_000,
    );
    assert_eq!(rec.outcome, RecordingOutcome::Silence);
    assert_eq!(frames, 120 + 40);
}

#[test]
fn stopped_by_key_and_untrimmed() {
    let t0 = Instant::now();
    let mut r = Recorder::new(
        t0,
        RecordingConfig {
            trim: false,
            ..Default::default()
        },
    );
    for i in 0..30 {
        assert_eq!(
            r.push(t0 + TICK * (i + 1), &tone_frame(i as usize, 8000.0)),
            None
        );
    }
    r.stop();
    assert_eq!(r.outcome(), Some(RecordingOutcome::Stopped));
    // Frames after the end are ignored.
    assert_eq!(
        r.push(t0 + TICK * 31, &tone_frame(31, 8000.0)),
        Some(RecordingOutcome::Stopped)
    );
    let rec = r.finish();
    assert_eq!(rec.samples.len(), 30 * FRAME);
}

#[test]
fn timeout_without_frames() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0, RecordingConfig::default());
    let at = r.poll_timeout().unwrap();
    assert_eq!(at, t0 + Duration::from_secs(5));
    assert_eq!(r.handle_timeout(at - Duration::from_millis(1)), None);
    assert_eq!(r.handle_timeout(at), Some(RecordingOutcome::NoSpeech));
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn push_does_not_grow_the_buffer() {
    let t0 = Instant::now();
    let mut r = Recorder::new(
        t0,
        RecordingConfig {
            max_length: Duration::from_secs(2),
            ..Default::default()
        },
    );
    let cap = r.samples().as_ptr();
    for i in 0..200 {
        r.push(t0 + TICK * (i + 1), &tone_frame(i as usize, 8000.0));
    }
    assert_eq!(r.samples().len(), 16_000);
    assert_eq!(r.samples().as_ptr(), cap);
}

#[test]
fn wav_round_trip() {
    let rec = Recording {
        outcome: RecordingOutcome::Silence,
        samples: (0..4000).map(|i| (i * 3) as i16).collect(),
        heard_speech: true,
    };
    let path = std::env::temp_dir().join(format!("kuulo-rec-{}.wav", std::process::id()));
    rec.write_wav(&path).unwrap();
    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16)
    );
    let back: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(back, rec.samples);
    std::fs::remove_file(&path).unwrap();

    let bad = std::path::Path::new("/nonexistent-dir/x.wav");
    assert!(rec.write_wav(bad).is_err());
}

#[test]
fn beep_is_whole_frames_without_clicks() {
    let b = beep_frames(1000.0, 250);
    assert_eq!(b.len(), 13 * FRAME);
    assert_eq!(b[0], 0);
    assert!(b.last().unwrap().abs() < 100);
    let peak = b.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert!((10_000..=10_400).contains(&peak), "peak {peak}");
    let p = beep_prompt(1000.0, 250, AudioCodec::Pcma).unwrap();
    assert_eq!(p.frame_count(), 13);
}
