//! What a resident's phone sends, written as pcap files for sipp's
//! `play_pcap_audio`: G.711 audio in 20 ms RTP packets, with key presses
//! either as RFC 4733 telephone events or as DTMF tones in the audio.
//!
//! A scenario says when each file is played (a `<pause>` before each
//! `play_pcap_audio`); [`schedule`] reads that back from the XML, so the
//! RTP clock of every file continues where the conversation is, and the
//! whole call is one RTP stream (one SSRC, one sequence space) as from a
//! real phone. sipp rewrites addresses and ports when it replays a file,
//! never the RTP header, so the headers written here are what Kuulo sees.
//!
//! Include it with `#[path = "support/caller_media.rs"] mod caller_media;`.

#![allow(dead_code)]

use std::path::Path;

/// Samples per 20 ms frame at 8 kHz.
const FRAME: usize = 160;
/// Peak of a sine at 0 dBm0 on the 16-bit scale. G.711 puts its overload
/// point 3.17 dB (mu-law) or 3.14 dB (A-law) above 0 dBm0; the two differ
/// by 0.03 dB, so one figure serves both laws.
const DBM0_PEAK: f32 = 22_652.0;
/// Audio before a key press in its file: the press starts in a talk spurt
/// that is already flowing, as when a finger comes down mid-call.
const LEAD_MS: u32 = 100;
/// How long a key is held.
pub const PRESS_MS: u32 = 90;
/// What the caller's line carries between words: faint noise, about
/// -60 dBm0, rather than digital silence no handset sends.
const NOISE_PEAK: i32 = 24;
/// Files end this long before the next one starts, so the next play does
/// not cancel a packet still due (sipp cancels the running replay).
const HANDOVER_MS: u32 = 20;
/// Length of the last file of a scenario, after which the caller's phone
/// is silent (no RTP) until the call ends.
const LAST_FILE_MS: u32 = 1000;

/// The G.711 law the offer names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// PCMU, payload type 0.
    Ulaw,
    /// PCMA, payload type 8.
    Alaw,
}

impl Law {
    fn payload_type(self) -> u8 {
        match self {
            Law::Ulaw => 0,
            Law::Alaw => 8,
        }
    }

    fn encode(self, samples: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; samples.len()];
        match self {
            Law::Ulaw => kuulo::media::g711::encode_ulaw(samples, &mut out),
            Law::Alaw => kuulo::media::g711::encode_alaw(samples, &mut out),
        };
        out
    }
}

/// How the phone sends a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// RFC 4733 telephone events on this payload type; the audio stops
    /// while the key is held, as most phones do.
    Rfc4733 {
        /// The telephone-event payload type the offer names.
        payload_type: u8,
    },
    /// Two tones in the audio (no telephone-event offered).
    InBand,
}

/// One file of a scenario: when it starts (ms after the ACK, by the
/// scenario's pauses) and its name as the scenario spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// Start, in ms after the ACK.
    pub at_ms: u32,
    /// The pcap file, relative to the scenario.
    pub file: String,
}

/// The `play_pcap_audio` files of a sipp scenario in order, each with its
/// start time: the sum of the `<pause milliseconds>` before it. Comments
/// are skipped, so they may quote the markup.
pub fn schedule(scenario_xml: &str) -> Vec<Play> {
    let mut text = String::new();
    let mut rest = scenario_xml;
    while let Some(open) = rest.find("<!--") {
        text.push_str(&rest[..open]);
        rest = rest[open..]
            .find("-->")
            .map_or("", |close| &rest[open + close + 3..]);
    }
    text.push_str(rest);

    const PAUSE: &str = "<pause milliseconds=\"";
    const PLAY: &str = "play_pcap_audio=\"";
    let quoted = |s: &str, at: usize| -> String {
        let s = &s[at..];
        s[..s.find('"').expect("closing quote")].to_string()
    };
    let mut plays = Vec::new();
    let mut now = 0u32;
    let mut at = 0;
    loop {
        let pause = text[at..].find(PAUSE).map(|i| at + i);
        let play = text[at..].find(PLAY).map(|i| at + i);
        match (pause, play) {
            (Some(p), q) if q.is_none_or(|q| p < q) => {
                let ms = quoted(&text, p + PAUSE.len());
                now += ms.parse::<u32>().expect("pause in whole milliseconds");
                at = p + PAUSE.len();
            }
            (_, Some(q)) => {
                plays.push(Play {
                    at_ms: now,
                    file: quoted(&text, q + PLAY.len()),
                });
                at = q + PLAY.len();
            }
            (None, None) => return plays,
            (Some(_), None) => unreachable!("the first arm takes a lone pause"),
        }
    }
}

/// What one file holds, from its name: `key_<k>_<why>.pcap` presses key
/// `k` (a digit, `star` or `hash`); `speech_<why>.pcap` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// One press of the key.
    Key(char),
    /// The start of [`sipp_speech`], as much as fits.
    Speech,
}

impl Content {
    /// Reads a scenario's file name; panics on a name that says neither,
    /// since the scenario and this helper must agree.
    pub fn of(file: &str) -> Content {
        let stem = file.strip_suffix(".pcap").unwrap_or(file);
        if stem.starts_with("speech") {
            return Content::Speech;
        }
        let key = stem
            .strip_prefix("key_")
            .and_then(|k| k.split('_').next())
            .unwrap_or_else(|| panic!("{file}: expected key_<k>_... or speech_..."));
        Content::Key(match key {
            "star" => '*',
            "hash" => '#',
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => d.as_bytes()[0] as char,
            other => panic!("{file}: {other:?} is not a key"),
        })
    }
}

/// The caller's side of one call: one RTP stream written out file by file.
pub struct CallerStream {
    law: Law,
    keys: KeyMode,
    ssrc: u32,
    seq: u16,
    /// Voice for `speech_*` files, 8 kHz.
    speech: Vec<i16>,
    noise: u32,
}

/// One RTP packet and when it leaves, in ms after the ACK.
struct Packet {
    at_ms: u32,
    rtp: Vec<u8>,
}

impl CallerStream {
    /// A stream whose audio is `law`, whose keys go as `keys`, and whose
    /// `speech_*` files speak the start of `speech` (8 kHz samples).
    pub fn new(law: Law, keys: KeyMode, speech: Vec<i16>) -> Self {
        CallerStream {
            law,
            keys,
            ssrc: 0x0d16_5e75,
            seq: 21_000,
            speech,
            noise: 0x1234_5678,
        }
    }

    /// Writes every file of `plays` into `dir`, each lasting until the
    /// next one starts. Returns the keys pressed, in order.
    pub fn write_all(&mut self, plays: &[Play], dir: &Path) -> Vec<char> {
        let mut keys = Vec::new();
        for (i, play) in plays.iter().enumerate() {
            let len = plays.get(i + 1).map_or(LAST_FILE_MS, |next| {
                let gap = next.at_ms - play.at_ms;
                assert!(
                    gap >= LEAD_MS + PRESS_MS + 200,
                    "{} and {} are only {gap} ms apart",
                    play.file,
                    next.file
                );
                gap - HANDOVER_MS
            });
            let content = Content::of(&play.file);
            if let Content::Key(k) = content {
                keys.push(k);
            }
            let packets = self.file(play.at_ms, len, content);
            write_pcap(&dir.join(&play.file), play.at_ms, &packets);
        }
        keys
    }

    fn file(&mut self, start_ms: u32, len_ms: u32, content: Content) -> Vec<Packet> {
        let frames = (len_ms / 20) as usize;
        let mut audio: Vec<i16> = (0..frames * FRAME).map(|_| self.noise()).collect();
        let mut event = None;
        match content {
            Content::Speech => {
                // Leave half a second of quiet before the next file, so
                // the voice ends the way a speaker does.
                let n = self.speech.len().min(audio.len().saturating_sub(4000));
                audio[..n].copy_from_slice(&self.speech[..n]);
            }
            Content::Key(k) => match self.keys {
                KeyMode::InBand => {
                    let from = (LEAD_MS * 8) as usize;
                    for (s, t) in audio[from..].iter_mut().zip(dtmf_tone(k, PRESS_MS, -10.0)) {
                        *s = t;
                    }
                }
                KeyMode::Rfc4733 { payload_type } => {
                    event = Some((k, payload_type));
                }
            },
        }

        let lead = (LEAD_MS / 20) as usize;
        let held = PRESS_MS.div_ceil(20) as usize;
        let mut packets = Vec::with_capacity(frames);
        for f in 0..frames {
            let at_ms = start_ms + 20 * f as u32;
            let ts = at_ms * 8;
            let marker = f == 0;
            if let Some((k, pt)) = event {
                // RFC 4733 2.5: one timestamp for the whole event, the
                // duration so far in each packet, and the end packet sent
                // three times.
                if (lead..lead + held + 3).contains(&f) {
                    let i = (f - lead) as u32;
                    let end = f >= lead + held;
                    let duration = if end { held as u32 } else { i + 1 } * FRAME as u32;
                    let start_ts = (start_ms + LEAD_MS) * 8;
                    let payload = telephone_event(k, end, duration as u16);
                    packets.push(Packet {
                        at_ms,
                        rtp: self.rtp(pt, f == lead, start_ts, &payload),
                    });
                    continue;
                }
            }
            let payload = self.law.encode(&audio[f * FRAME..(f + 1) * FRAME]);
            let pt = self.law.payload_type();
            packets.push(Packet {
                at_ms,
                rtp: self.rtp(pt, marker, ts, &payload),
            });
        }
        packets
    }

    fn rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + payload.len());
        p.push(0x80);
        p.push(pt | if marker { 0x80 } else { 0 });
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    fn noise(&mut self) -> i16 {
        // A small LCG: the same noise on every run.
        self.noise = self
            .noise
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        let r = (self.noise >> 16) as i32 % (2 * NOISE_PEAK + 1) - NOISE_PEAK;
        r as i16
    }
}

/// An RFC 4733 telephone-event payload at -10 dBm0.
fn telephone_event(key: char, end: bool, duration: u16) -> [u8; 4] {
    let event = match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        _ => panic!("{key:?} is not a key"),
    };
    let d = duration.to_be_bytes();
    [event, if end { 0x80 } else { 0 } | 10, d[0], d[1]]
}

/// A DTMF key as its two tones, each at `dbm0` (-10 is a phone's usual
/// level), 8 kHz.
pub fn dtmf_tone(key: char, ms: u32, dbm0: f32) -> Vec<i16> {
    const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f32; 3] = [1209.0, 1336.0, 1477.0];
    const PAD: [&str; 4] = ["123", "456", "789", "*0#"];
    let (row, col) = PAD
        .iter()
        .enumerate()
        .find_map(|(r, keys)| keys.find(key).map(|c| (r, c)))
        .unwrap_or_else(|| panic!("{key:?} is not a key"));
    let peak = DBM0_PEAK * 10f32.powf(dbm0 / 20.0);
    let w = |hz: f32, i: u32| (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin();
    (0..ms * 8)
        .map(|i| (peak * (w(ROWS[row], i) + w(COLS[col], i))).round() as i16)
        .collect()
}

/// Seven seconds of a person speaking: the A-law audio of sipp's bundled
/// `g711a.pcap`, decoded to 8 kHz samples.
pub fn sipp_speech() -> Vec<i16> {
    let alaw = crate::support::serve::sipp_alaw_speech();
    let mut pcm = vec![0i16; alaw.len()];
    kuulo::media::g711::decode_alaw(&alaw, &mut pcm);
    pcm
}

/// Writes `packets` as a classic pcap of Ethernet/IPv4/UDP frames, times
/// counted from `start_ms` (sipp replays with the gaps between records).
fn write_pcap(path: &Path, start_ms: u32, packets: &[Packet]) {
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for p in packets {
        // Placeholder addresses and ports: sipp puts in the call's own.
        let udp_len = 8 + p.rtp.len() as u16;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[0x45, 0]);
        frame.extend_from_slice(&(20 + udp_len).to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&6000u16.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&p.rtp);
        let micros = (p.at_ms - start_ms) * 1000;
        pcap.extend_from_slice(&(micros / 1_000_000).to_le_bytes());
        pcap.extend_from_slice(&(micros % 1_000_000).to_le_bytes());
        pcap.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        pcap.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        pcap.extend_from_slice(&frame);
    }
    std::fs::write(path, pcap).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
