//! G.711 checked against the standard's tables, every input, and sox.

use kuulo_media::g711::{
    alaw_to_linear, decode_alaw, decode_ulaw, encode_alaw, encode_ulaw, linear_to_alaw,
    linear_to_ulaw, ulaw_to_linear, Law,
};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Sign and magnitude of a 16-bit sample as G.191 reads it: negative
/// samples in one's complement, so -1 is "minus zero".
fn sign_magnitude(x: i16) -> (bool, i32) {
    let x = i32::from(x);
    if x < 0 {
        (true, -x - 1)
    } else {
        (false, x)
    }
}

/// mu-law from G.711 Table 2a: segment s (0-7) has 16 intervals of width
/// 2^(s+1); interval (s, q) tops out at 14-bit magnitude
/// ((17 + q) << (s + 1)) - 34, and anything beyond 8158 is the top interval.
fn reference_ulaw(x: i16) -> u8 {
    let (negative, m) = sign_magnitude(x);
    let m14 = m >> 2;
    let mut code = 0x7F;
    'search: for s in 0..8 {
        for q in 0..16 {
            if m14 <= ((17 + q) << (s + 1)) - 34 {
                code = (s << 4) | q;
                break 'search;
            }
        }
    }
    !((u8::from(negative) << 7) | code as u8)
}

/// A-law from G.711 Table 1a on the 13-bit magnitude (0-4095): segments
/// end at 31, 63, 127, ... 4095; segments 0 and 1 have steps of 2, segment
/// s >= 2 steps of 2^s. Even bits are inverted on the line.
fn reference_alaw(x: i16) -> u8 {
    let (negative, m) = sign_magnitude(x);
    let m13 = m >> 3;
    let ends = [31, 63, 127, 255, 511, 1023, 2047, 4095];
    let s = ends.iter().position(|&e| m13 <= e).unwrap() as i32;
    let start = if s == 0 { 0 } else { 32 << (s - 1) };
    let step = if s < 2 { 2 } else { 1 << s };
    let q = (m13 - start) / step;
    let sign = if negative { 0 } else { 0x80 };
    ((sign | (s << 4) | q) as u8) ^ 0x55
}

/// Decoder output is the middle of the interval, scaled back to 16 bits.
fn reference_ulaw_decode(code: u8) -> i16 {
    let c = !code;
    let (s, q) = (i32::from((c >> 4) & 7), i32::from(c & 15));
    let m14 = ((16 + q) << (s + 1)) + (1 << s) - 33;
    let v = m14 * 4;
    if c & 0x80 != 0 {
        -v as i16
    } else {
        v as i16
    }
}

fn reference_alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let (s, q) = (i32::from((c >> 4) & 7), i32::from(c & 15));
    let start = if s == 0 { 0 } else { 32 << (s - 1) };
    let step = if s < 2 { 2 } else { 1 << s };
    let m13 = start + step * q + step / 2;
    let v = m13 * 8;
    if c & 0x80 != 0 {
        v as i16
    } else {
        -v as i16
    }
}

#[test]
fn ulaw_encode_matches_reference_for_every_input() {
    for x in i16::MIN..=i16::MAX {
        assert_eq!(linear_to_ulaw(x), reference_ulaw(x), "input {x}");
    }
}

#[test]
fn alaw_encode_matches_reference_for_every_input() {
    for x in i16::MIN..=i16::MAX {
        assert_eq!(linear_to_alaw(x), reference_alaw(x), "input {x}");
    }
}

#[test]
fn decode_matches_reference_for_every_code() {
    for c in 0..=255u8 {
        assert_eq!(ulaw_to_linear(c), reference_ulaw_decode(c), "ulaw {c:#04x}");
        assert_eq!(alaw_to_linear(c), reference_alaw_decode(c), "alaw {c:#04x}");
    }
}

#[test]
fn known_values() {
    assert_eq!(linear_to_ulaw(0), 0xFF);
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
    assert_eq!(ulaw_to_linear(0x80), 32124);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    assert_eq!(linear_to_alaw(0), 0xD5);
    assert_eq!(linear_to_alaw(-1), 0x55);
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0xAA), 32256);
    assert_eq!(alaw_to_linear(0x2A), -32256);
}

#[test]
fn decode_then_encode_is_identity() {
    for c in 0..=255u8 {
        assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#04x}");
        // mu-law has two zeros; "minus zero" (0x7F) decodes to 0, which is
        // positive zero (0xFF) on the way back.
        let expected = if c == 0x7F { 0xFF } else { c };
        assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), expected, "ulaw {c:#04x}");
    }
}

#[test]
fn slices_stop_at_the_shorter_buffer() {
    let pcm: Vec<i16> = (0..160).map(|i| (i * 200 - 16000) as i16).collect();
    let mut codes = [0u8; 160];
    let mut back = [0i16; 160];
    for law in [Law::Ulaw, Law::Alaw] {
        assert_eq!(law.encode(&pcm, &mut codes), 160);
        assert_eq!(law.decode(&codes, &mut back), 160);
        for (a, b) in pcm.iter().zip(&back) {
            // G.711's worst error is half the largest step (1024 or 2048).
            assert!(
                (i32::from(*a) - i32::from(*b)).abs() <= 1024,
                "{law:?} {a} {b}"
            );
        }
    }
    assert_eq!(encode_ulaw(&pcm, &mut codes[..10]), 10);
    assert_eq!(encode_alaw(&pcm[..5], &mut codes), 5);
    assert_eq!(decode_ulaw(&codes[..3], &mut back), 3);
    assert_eq!(decode_alaw(&codes, &mut back[..7]), 7);
    assert_eq!(Law::Ulaw.silence(), linear_to_ulaw(0));
    assert_eq!(Law::Alaw.silence(), linear_to_alaw(0));
}

fn sox_available() -> bool {
    Command::new("sox")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn write_wav(path: &Path, samples: &[i16]) {
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::with_capacity(44 + samples.len() * 2);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, w).unwrap();
}

fn sox(args: &[&str]) {
    let out = Command::new("sox").args(args).output().expect("run sox");
    assert!(
        out.status.success(),
        "sox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kuulo-g711-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Converts a WAV with sox and compares bytes with ours, both ways.
///
/// The signal is made of G.711 reconstruction levels (every code's level,
/// then a tone and a sweep snapped to levels). sox rounds to 14/13 bits
/// before encoding where G.711/G.191 truncate, so on arbitrary samples the
/// two differ by one code next to decision levels; on reconstruction
/// levels, which sit mid-interval, any faithful encoder must agree.
#[test]
fn matches_sox_on_a_wav_file() {
    if !sox_available() {
        println!("skipped: sox is not installed (apt-get install sox)");
        return;
    }
    let dir = scratch_dir();
    for (law, name, decode) in [
        (Law::Ulaw, "u-law", ulaw_to_linear as fn(u8) -> i16),
        (Law::Alaw, "a-law", alaw_to_linear as fn(u8) -> i16),
    ] {
        let mut samples: Vec<i16> = (0..=255u8).map(decode).collect();
        for i in 0..8000 {
            let t = f64::from(i) / 8000.0;
            let tone = 12000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin();
            let sweep = 30000.0 * (2.0 * std::f64::consts::PI * (50.0 + 1000.0 * t) * t).sin();
            for v in [tone, sweep] {
                let mut code = [0u8];
                law.encode(&[v as i16], &mut code);
                samples.push(decode(code[0]));
            }
        }
        let wav = dir.join(format!("{name}.wav"));
        let sox_codes = dir.join(format!("{name}.sox.raw"));
        let our_codes = dir.join(format!("{name}.ours.raw"));
        let sox_pcm = dir.join(format!("{name}.pcm"));
        write_wav(&wav, &samples);

        sox(&[
            "-D",
            wav.to_str().unwrap(),
            "-t",
            "raw",
            "-e",
            name,
            "-b",
            "8",
            sox_codes.to_str().unwrap(),
        ]);
        let theirs = std::fs::read(&sox_codes).unwrap();
        let mut ours = vec![0u8; samples.len()];
        law.encode(&samples, &mut ours);
        assert_eq!(theirs.len(), ours.len(), "{name}");
        for (i, (a, b)) in theirs.iter().zip(&ours).enumerate() {
            assert_eq!(a, b, "{name} sample {i} = {}", samples[i]);
        }

        std::fs::write(&our_codes, &ours).unwrap();
        let raw_in = ["-t", "raw", "-r", "8000", "-c", "1", "-e", name, "-b", "8"];
        let mut args: Vec<&str> = raw_in.to_vec();
        args.push(our_codes.to_str().unwrap());
        args.extend([
            "-t",
            "raw",
            "-e",
            "signed",
            "-b",
            "16",
            "-L",
            sox_pcm.to_str().unwrap(),
        ]);
        sox(&args);
        let pcm = std::fs::read(&sox_pcm).unwrap();
        let mut decoded = vec![0i16; ours.len()];
        law.decode(&ours, &mut decoded);
        let theirs: Vec<i16> = pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(theirs, decoded, "{name} decode");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
