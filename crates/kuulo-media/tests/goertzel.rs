//! In-band DTMF detector: synthesized tones at the telephone limits, noise,
//! and a talk-off run over minutes of synthesized English and Finnish speech,
//! straight and through Opus.

use std::f64::consts::PI;
use std::process::Command;
use std::time::Instant;

use kuulo_media::goertzel::{DetectorConfig, DtmfDetector, InbandDigit};
use kuulo_media::opus::{OpusDecoder, OpusEncoder, DEFAULT_BITRATE};

const KEYS: &str = "123A456B789C*0#D";
const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

fn freqs(key: char) -> (f64, f64) {
    let i = KEYS.find(key).expect("a DTMF key");
    (LOW[i / 4], HIGH[i % 4])
}

/// A tone segment: key, length, gap after it, frequency factors and the
/// high group's level relative to the low group's (dB).
#[derive(Clone, Copy)]
struct Tone {
    key: char,
    ms: f64,
    gap_ms: f64,
    low_factor: f64,
    high_factor: f64,
    high_db: f64,
}

fn tone(key: char, ms: f64) -> Tone {
    Tone {
        key,
        ms,
        gap_ms: 60.0,
        low_factor: 1.0,
        high_factor: 1.0,
        high_db: 0.0,
    }
}

/// Renders tones after `lead` samples of silence, low tone at -10 dBm0.
fn render(tones: &[Tone], lead: usize) -> Vec<i16> {
    let amp = 7000.0;
    let mut out = vec![0i16; lead];
    for t in tones {
        let (fl, fh) = freqs(t.key);
        let (fl, fh) = (fl * t.low_factor, fh * t.high_factor);
        let ah = amp * 10f64.powf(t.high_db / 20.0);
        for i in 0..(t.ms * 8.0).round() as usize {
            let x = i as f64 / 8000.0;
            let v = amp * (2.0 * PI * fl * x).sin() + ah * (2.0 * PI * fh * x + 1.0).sin();
            out.push(v.round() as i16);
        }
        out.extend(std::iter::repeat_n(0, (t.gap_ms * 8.0) as usize));
    }
    out.extend(std::iter::repeat_n(0, 800));
    out
}

fn detect_with(config: DetectorConfig, pcm: &[i16], chunk: usize) -> Vec<InbandDigit> {
    let mut d = DtmfDetector::new(config);
    let mut got = Vec::new();
    for c in pcm.chunks(chunk.max(1)) {
        d.process(c, |x| got.push(x));
    }
    got
}

fn detect(pcm: &[i16]) -> String {
    detect_with(DetectorConfig::default(), pcm, 160)
        .iter()
        .map(|d| d.digit)
        .collect()
}

#[test]
fn all_sixteen_keys_with_start_times() {
    let tones: Vec<Tone> = KEYS.chars().map(|k| tone(k, 60.0)).collect();
    let pcm = render(&tones, 400);
    let got = detect_with(DetectorConfig::default(), &pcm, 160);
    let keys: String = got.iter().map(|d| d.digit).collect();
    assert_eq!(keys, KEYS);
    for (i, d) in got.iter().enumerate() {
        let want = 400 + i as i64 * 960;
        let err = d.start as i64 - want;
        assert!(
            err.abs() <= 24,
            "key {} starts at {}, want {want}",
            d.digit,
            d.start
        );
    }
}

#[test]
fn any_slice_size_gives_the_same_digits() {
    let tones: Vec<Tone> = "159#".chars().map(|k| tone(k, 50.0)).collect();
    let pcm = render(&tones, 123);
    let whole = detect_with(DetectorConfig::default(), &pcm, pcm.len());
    for chunk in [1, 7, 17, 160, 1000] {
        assert_eq!(detect_with(DetectorConfig::default(), &pcm, chunk), whole);
    }
    assert_eq!(whole.len(), 4);
}

#[test]
fn duration_limits_35_rejected_40_and_45_accepted() {
    for lead in (0..34).step_by(3) {
        for key in KEYS.chars() {
            assert_eq!(
                detect(&render(&[tone(key, 35.0)], 200 + lead)),
                "",
                "35 ms {key}"
            );
            assert_eq!(
                detect(&render(&[tone(key, 45.0)], 200 + lead)),
                key.to_string()
            );
        }
        assert_eq!(
            detect(&render(&[tone('5', 40.0)], 200 + lead)),
            "5",
            "40 ms"
        );
    }
}

#[test]
fn frequency_deviation_limits() {
    for key in KEYS.chars() {
        for f in [0.986, 1.014] {
            let ok = [
                Tone {
                    low_factor: f,
                    ..tone(key, 60.0)
                },
                Tone {
                    high_factor: f,
                    ..tone(key, 60.0)
                },
                Tone {
                    low_factor: f,
                    high_factor: 2.0 - f,
                    ..tone(key, 60.0)
                },
            ];
            assert_eq!(
                detect(&render(&ok, 200)),
                key.to_string().repeat(3),
                "{key} x{f}"
            );
        }
        for f in [0.964, 1.036] {
            for t in [
                Tone {
                    low_factor: f,
                    ..tone(key, 60.0)
                },
                Tone {
                    high_factor: f,
                    ..tone(key, 60.0)
                },
            ] {
                assert_eq!(detect(&render(&[t], 200)), "", "{key} x{f}");
            }
        }
    }
}

#[test]
fn twist_limits() {
    for key in KEYS.chars() {
        let at = |db| {
            detect(&render(
                &[Tone {
                    high_db: db,
                    ..tone(key, 60.0)
                }],
                200,
            ))
        };
        assert_eq!(at(-7.5), key.to_string(), "normal twist 7.5 dB {key}");
        assert_eq!(at(-8.5), "", "normal twist 8.5 dB {key}");
        assert_eq!(at(3.5), key.to_string(), "reverse twist 3.5 dB {key}");
        assert_eq!(at(4.5), "", "reverse twist 4.5 dB {key}");
    }
}

#[test]
fn quiet_tones_are_ignored() {
    let pcm: Vec<i16> = render(&[tone('3', 80.0)], 200)
        .iter()
        .map(|s| s / 40)
        .collect();
    assert_eq!(detect(&pcm), "");
}

#[test]
fn long_press_once_and_gaps() {
    assert_eq!(detect(&render(&[tone('8', 2000.0)], 10)), "8");
    let close = [
        Tone {
            gap_ms: 10.0,
            ..tone('8', 60.0)
        },
        tone('8', 60.0),
    ];
    assert_eq!(detect(&render(&close, 10)), "8", "10 ms pause is too short");
    let apart = [
        Tone {
            gap_ms: 45.0,
            ..tone('8', 60.0)
        },
        tone('8', 60.0),
    ];
    assert_eq!(detect(&render(&apart, 10)), "88");
}

/// xorshift64*: a tiny seeded PRNG so noise is the same on every run.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly Gaussian, unit variance (sum of 12 uniforms).
    fn gauss(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }
}

#[test]
fn detects_in_noise_at_reasonable_snr() {
    let tones: Vec<Tone> = KEYS.chars().map(|k| tone(k, 70.0)).collect();
    let clean = render(&tones, 400);
    // Signal power of the pair: 2 * 7000^2 / 2.
    let sig_power = 7000.0f64.powi(2);
    for snr_db in [20.0, 15.0] {
        let sigma = (sig_power / 10f64.powf(snr_db / 10.0)).sqrt();
        let mut rng = Rng(42);
        let noisy: Vec<i16> = clean
            .iter()
            .map(|&s| (f64::from(s) + sigma * rng.gauss()).round() as i16)
            .collect();
        assert_eq!(detect(&noisy), KEYS, "SNR {snr_db} dB");
    }
}

/// Reads a mono 16-bit WAV.
fn read_wav(path: &std::path::Path) -> (u32, Vec<i16>) {
    let mut r = hound::WavReader::open(path).expect("readable WAV");
    let spec = r.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16));
    let samples = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    (spec.sample_rate, samples)
}

const ENGLISH: &str = "Hello, this is the city calling with a short survey about local services. \
It takes about three minutes, and your answers are anonymous. If you would rather not take part, \
you may hang up at any time. First question: how satisfied are you with public transport in your \
neighbourhood? Press one for very satisfied, two for satisfied, three for neutral, four for \
dissatisfied, or five for very dissatisfied. Thank you. Second question: which channel do you \
prefer when contacting the city: telephone, email and web forms, chat, messaging apps, or social \
media? Please tell us in your own words what we could do better. Record your answer after the \
tone, and press the hash key when you are finished. We appreciate your time. Our libraries, \
swimming halls and health centres are open all summer. Remember to sort your recycling, and \
watch out for children near schools. Goodbye and have a lovely evening.";

const FINNISH: &str = "Hei, täällä soittaa kaupunki. Teemme lyhyen kyselyn kaupungin palveluista. \
Kysely kestää noin kolme minuuttia, ja vastauksesi ovat nimettömiä. Voit lopettaa puhelun milloin \
tahansa. Ensimmäinen kysymys: kuinka tyytyväinen olet joukkoliikenteeseen asuinalueellasi? Paina \
yksi, jos olet erittäin tyytyväinen, kaksi, jos olet tyytyväinen, kolme, jos et osaa sanoa. \
Kiitos vastauksestasi. Toinen kysymys: miten haluaisit asioida kaupungin kanssa: puhelimitse, \
sähköpostilla, verkkolomakkeella, chatissa tai sosiaalisessa mediassa? Kerro omin sanoin, mitä \
voisimme tehdä paremmin. Puhu äänimerkin jälkeen ja paina risuaitaa, kun olet valmis. Kirjastot, \
uimahallit ja terveysasemat ovat auki koko kesän. Muista lajitella jätteet. Hyvää illanjatkoa.";

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The talk-off corpus: each voice's speech at `rate`, normalised to
/// -1 dBFS, with its label; `None` (and a note) without espeak-ng and sox.
fn speech_corpus(rate: u32) -> Option<Vec<(String, Vec<i16>)>> {
    if !have("espeak-ng") || !have("sox") {
        println!("SKIPPED talk-off: espeak-ng and sox are needed (apt-get install espeak-ng sox)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("kuulo-talkoff-{}-{rate}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Voices and pitches vary the harmonics that could mimic a tone pair.
    let runs = [
        ("en", ENGLISH, "50", "160"),
        ("en-us", ENGLISH, "85", "140"),
        ("en+f3", ENGLISH, "70", "175"),
        ("fi", FINNISH, "50", "160"),
        ("fi+f2", FINNISH, "80", "150"),
        ("fi+m3", FINNISH, "30", "170"),
    ];
    let mut corpus = Vec::new();
    for (i, (voice, text, pitch, speed)) in runs.iter().enumerate() {
        let raw = dir.join(format!("raw{i}.wav"));
        let pcm_path = dir.join(format!("pcm{i}.wav"));
        let ok = Command::new("espeak-ng")
            .args(["-v", voice, "-p", pitch, "-s", speed, "-w"])
            .arg(&raw)
            .arg(text)
            .status()
            .unwrap()
            .success();
        assert!(ok, "espeak-ng failed for {voice}");
        let ok = Command::new("sox")
            .arg(&raw)
            .args(["-r", &rate.to_string(), "-c", "1", "-b", "16"])
            .arg(&pcm_path)
            .args(["norm", "-1"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "sox failed");
        let (got_rate, pcm) = read_wav(&pcm_path);
        assert_eq!(got_rate, rate);
        // Quieter speech too: levels change which checks bind.
        let quiet: Vec<i16> = pcm.iter().map(|s| s / 8).collect();
        corpus.push((voice.to_string(), pcm));
        corpus.push((format!("{voice} quiet"), quiet));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Some(corpus)
}

#[test]
fn talk_off_on_minutes_of_speech() {
    let Some(corpus) = speech_corpus(8000) else {
        return;
    };
    let started = Instant::now();
    let mut seconds = 0.0;
    let mut false_digits = Vec::new();
    for (label, pcm) in &corpus {
        seconds += pcm.len() as f64 / 8000.0;
        for d in detect_with(DetectorConfig::default(), pcm, 160) {
            false_digits.push((label.clone(), d));
        }
    }
    println!(
        "talk-off: {seconds:.0} s of speech, {} false digits, {:?}",
        false_digits.len(),
        started.elapsed()
    );
    assert!(seconds >= 180.0, "only {seconds:.0} s of speech");
    assert!(false_digits.is_empty(), "false digits: {false_digits:?}");
}

/// The session's Opus receive path: 48 kHz audio encoded in 20 ms frames
/// at `bitrate`, decoded straight to 8 kHz as the session decodes it.
fn through_opus(pcm48: &[i16], bitrate: i32) -> Vec<i16> {
    let mut encoder = OpusEncoder::new(48_000, bitrate).unwrap();
    let mut decoder = OpusDecoder::new(8000).unwrap();
    let mut packet = [0u8; 1500];
    let mut frame = [0i16; 160];
    let mut out = Vec::with_capacity(pcm48.len() / 6);
    for chunk in pcm48.chunks(960) {
        let mut input = [0i16; 960];
        input[..chunk.len()].copy_from_slice(chunk);
        let n = encoder.encode(&input, &mut packet).unwrap();
        let got = decoder.decode(&packet[..n], &mut frame).unwrap();
        out.extend_from_slice(&frame[..got]);
    }
    out
}

/// Opus bit rates a phone call may use: the prompts' rate and a low one
/// where the codec's artefacts are largest.
const OPUS_RATES: [i32; 2] = [DEFAULT_BITRATE, 12_000];

#[test]
fn talk_off_on_minutes_of_speech_through_opus() {
    let Some(corpus) = speech_corpus(48_000) else {
        return;
    };
    let mut seconds = 0.0;
    let mut false_digits = Vec::new();
    for bitrate in OPUS_RATES {
        for (label, pcm48) in &corpus {
            let pcm8 = through_opus(pcm48, bitrate);
            seconds += pcm8.len() as f64 / 8000.0;
            for d in detect_with(DetectorConfig::default(), &pcm8, 160) {
                false_digits.push((format!("{label} at {bitrate} bit/s"), d));
            }
        }
    }
    println!(
        "talk-off through Opus: {seconds:.0} s of speech, {} false digits",
        false_digits.len()
    );
    assert!(seconds >= 360.0, "only {seconds:.0} s of speech");
    assert!(false_digits.is_empty(), "false digits: {false_digits:?}");
}

/// Renders keys at 48 kHz: `ms` of tone and 60 ms of silence each, the
/// low tone at `amp` and the high one 2 dB above it, as phones send.
fn render_48k(keys: &str, ms: f64, amp: f64) -> Vec<i16> {
    let mut out = vec![0i16; 48 * 200];
    for key in keys.chars() {
        let (fl, fh) = freqs(key);
        let ah = amp * 10f64.powf(2.0 / 20.0);
        for i in 0..(ms * 48.0) as usize {
            let x = i as f64 / 48_000.0;
            let v = amp * (2.0 * PI * fl * x).sin() + ah * (2.0 * PI * fh * x + 1.0).sin();
            out.push(v.round() as i16);
        }
        out.extend(std::iter::repeat_n(0, 48 * 60));
    }
    out.extend(std::iter::repeat_n(0, 48 * 200));
    out
}

#[test]
fn keys_through_opus_are_still_detected() {
    // The positive control of the Opus talk-off run: the same path must
    // not cost real keys, loud or quiet, short or long.
    for bitrate in OPUS_RATES {
        for (ms, amp) in [(60.0, 7000.0), (100.0, 7000.0), (100.0, 1500.0)] {
            let pcm8 = through_opus(&render_48k(KEYS, ms, amp), bitrate);
            assert_eq!(
                detect(&pcm8),
                KEYS,
                "{ms} ms keys at amplitude {amp} through Opus at {bitrate} bit/s"
            );
        }
    }
}
