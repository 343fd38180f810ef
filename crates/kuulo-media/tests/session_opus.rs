//! Two media sessions that agreed on Opus through SDP offer/answer, back
//! to back in virtual time: prompts, RFC 4733 keys on the 48 kHz clock,
//! in-band keys through the codec, recording, loss and bad packets.

mod session_util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo_media::opus::silence_frame;
use kuulo_media::prompt::{EncodedPrompt, PcmAudio};
use kuulo_media::recording::{RecordingConfig, RecordingOutcome};
use kuulo_media::rtp::{RtpBuilder, RtpPacket};
use kuulo_media::sdp::{
    accept_answer, answer_offer, build_offer, AudioCodec, MediaConfig, SessionDescription, PT_OPUS,
    PT_TELEPHONE_EVENT_48K,
};
use kuulo_media::session::{
    DtmfSendMode, DtmfSource, MediaSession, PacketKind, SessionConfig, SessionEvent,
};
use session_util::{addr, Pair, Side, A_ADDR, B_ADDR};

const KEYS: &str = "0123456789*#ABCD55";

/// Offer from A (Opus first), answer from B, both through the wire format
/// as SIP would carry them; the two session configs.
fn negotiate(telephone_event: bool) -> (SessionConfig, SessionConfig) {
    let ip = |a: &str| addr(a).ip();
    let mut a = MediaConfig::new(ip(A_ADDR), addr(A_ADDR).port());
    a.codecs = vec![AudioCodec::Opus, AudioCodec::Pcmu];
    a.telephone_event = telephone_event;
    let mut b = MediaConfig::new(ip(B_ADDR), addr(B_ADDR).port());
    b.telephone_event = telephone_event;
    let offer = build_offer(&a);
    let offer_seen = SessionDescription::parse(offer.to_string().as_bytes()).unwrap();
    let (answer, at_b) = answer_offer(&offer_seen, &b).unwrap();
    let answer_seen = SessionDescription::parse(answer.to_string().as_bytes()).unwrap();
    let at_a = accept_answer(&offer, &answer_seen).unwrap();
    for n in [&at_a, &at_b] {
        assert_eq!((n.codec, n.payload_type), (AudioCodec::Opus, PT_OPUS));
        let te = telephone_event.then_some(PT_TELEPHONE_EVENT_48K);
        assert_eq!(n.telephone_event, te);
    }
    assert_eq!(at_a.remote, addr(B_ADDR));
    assert_eq!(at_b.remote, addr(A_ADDR));
    (SessionConfig::new(&at_a, 1), SessionConfig::new(&at_b, 2))
}

fn opus_pair(telephone_event: bool, mode: DtmfSendMode) -> Pair {
    let t0 = Instant::now();
    let (mut ca, cb) = negotiate(telephone_event);
    ca.dtmf_send = mode;
    let a = MediaSession::new(t0, ca).unwrap();
    let b = MediaSession::new(t0 + Duration::from_millis(7), cb).unwrap();
    Pair::new(t0, a, b)
}

/// A 440 Hz Opus prompt, `ms` long, made at 48 kHz.
fn tone_prompt(ms: u32) -> Arc<EncodedPrompt> {
    let n = ms as usize * 48;
    let audio = PcmAudio {
        rate: 48000,
        samples: (0..n)
            .map(|i| 0.25 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48000.0).sin())
            .collect(),
    };
    Arc::new(EncodedPrompt::from_audio(&audio, AudioCodec::Opus).unwrap())
}

/// A's RTP packets of payload type `pt`, in sending order.
fn sent_by_a(p: &Pair, pt: u8) -> Vec<(u16, u32, bool, Vec<u8>)> {
    p.sent
        .iter()
        .filter(|s| s.from == Side::A && s.kind == PacketKind::Rtp)
        .filter_map(|s| RtpPacket::parse(&s.bytes).ok())
        .filter(|r| r.payload_type == pt)
        .map(|r| (r.sequence, r.timestamp, r.marker, r.payload.to_vec()))
        .collect()
}

fn send_keys(p: &mut Pair) {
    p.a.play(tone_prompt(3000)).unwrap();
    p.run_for(Duration::from_millis(500));
    for k in KEYS.chars() {
        p.a.send_dtmf(k).unwrap();
    }
    p.run_for(Duration::from_secs(8));
    assert!(!p.a.is_sending_dtmf());
}

#[test]
fn rfc4733_keys_run_on_the_48khz_clock() {
    let mut p = opus_pair(true, DtmfSendMode::Rfc4733);
    send_keys(&mut p);
    let got = p.b_digits();
    let keys: String = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, KEYS, "{got:?}");
    assert!(got.iter().all(|(_, s)| *s == DtmfSource::Rfc4733));

    // Each 100 ms key ends at a duration of 4800 units: 48 kHz.
    let events = sent_by_a(&p, PT_TELEPHONE_EVENT_48K);
    let ends: Vec<u16> = events
        .iter()
        .filter(|e| e.3[1] & 0x80 != 0)
        .map(|e| u16::from_be_bytes([e.3[2], e.3[3]]))
        .collect();
    assert_eq!(ends.len(), KEYS.len() * 3);
    assert!(ends.iter().all(|&d| d == 4800), "{ends:?}");
    // Audio advances 960 units per 20 ms packet.
    let audio = sent_by_a(&p, PT_OPUS);
    assert!(audio.len() > 400);
    for w in audio.windows(2) {
        assert_eq!(w[1].1.wrapping_sub(w[0].1), 960);
    }
    let (sa, sb) = p.stats();
    assert_eq!((sa.codec_errors, sb.codec_errors), (0, 0));
    assert!(p.a_finished_playing());
}

#[test]
fn inband_keys_survive_the_codec() {
    let mut p = opus_pair(false, DtmfSendMode::Auto);
    send_keys(&mut p);
    let got = p.b_digits();
    let keys: String = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, KEYS, "{got:?}");
    assert!(got.iter().all(|(_, s)| *s == DtmfSource::InBand));
    assert_eq!(p.b.stats().codec_errors, 0);
}

#[test]
fn keys_sent_both_ways_over_a_lossy_jittery_link_arrive_once() {
    keys_over_a_bad_link(opus_pair(true, DtmfSendMode::Both), 50);
}

#[test]
fn inband_keys_survive_five_percent_loss() {
    keys_over_a_bad_link(opus_pair(false, DtmfSendMode::InBand), 20);
}

/// Loses one Opus packet in `every` (concealed by the decoder) and delays
/// each by 0-30 ms, so some overtake others.
fn keys_over_a_bad_link(mut p: Pair, every: u32) {
    p.latency = Duration::from_millis(40);
    let mut n = 0u32;
    p.drop = Box::new(move |s| {
        n += 1;
        s.kind == PacketKind::Rtp && s.bytes[1] & 0x7F == PT_OPUS && n % every == 0
    });
    let mut x = 0x9E37_79B9u32;
    p.extra_delay = Box::new(move |_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        Duration::from_millis(u64::from(x % 31))
    });
    send_keys(&mut p);
    let keys: String = p.b_digits().iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, KEYS, "{:?}", p.b_digits());
    let s = p.b.stats();
    assert!(s.concealed > 0 && s.codec_errors == 0, "{s:?}");
}

#[test]
fn recording_hears_the_prompt_and_idle_sends_shared_silence() {
    let mut p = opus_pair(true, DtmfSendMode::Rfc4733);
    p.run_for(Duration::from_millis(200));
    p.b.start_recording(RecordingConfig {
        end_silence: Duration::from_secs(1),
        ..Default::default()
    });
    p.run_for(Duration::from_secs(1));
    p.a.play(tone_prompt(1500)).unwrap();
    p.run_for(Duration::from_secs(4));
    let rec = p
        .b_events
        .iter()
        .find_map(|(_, e)| match e {
            SessionEvent::RecordingFinished(r) => Some(r.clone()),
            _ => None,
        })
        .expect("recording finished");
    assert_eq!(rec.outcome, RecordingOutcome::Silence);
    assert!(rec.heard_speech);
    // 1.5 s of tone plus 200 ms margins, within a couple of frames (Opus
    // adds a few ms of codec delay).
    let ms = rec.duration().as_millis();
    assert!((1860..=1960).contains(&ms), "{ms} ms");

    // Idle frames before the prompt are the one shared silence packet.
    let silence = silence_frame().unwrap();
    let audio = sent_by_a(&p, PT_OPUS);
    assert!(audio[..40].iter().all(|a| a.3 == silence));
    assert!(audio[0].2, "first packet has the marker");
}

/// B alone, fed crafted Opus packets from A's address.
fn feed(b: &mut MediaSession, now: Instant, seq: u16, payload: &[u8]) {
    let mut buf = [0u8; 512];
    let n = RtpBuilder {
        payload_type: PT_OPUS,
        sequence: seq,
        timestamp: u32::from(seq) * 960,
        ssrc: 0xA11C_E000,
        payload,
        ..Default::default()
    }
    .write_to(&mut buf)
    .unwrap();
    b.handle_receive(now, addr(A_ADDR), &buf[..n]);
}

#[test]
fn loss_is_concealed_and_bad_packets_are_counted() {
    let t0 = Instant::now();
    let (_, cb) = negotiate(true);
    let mut b = MediaSession::new(t0, cb).unwrap();
    let prompt = tone_prompt(2000);
    let mut now = t0;
    for i in 0..100u16 {
        now = t0 + Duration::from_millis(20 * u64::from(i));
        match i {
            // Lost.
            30 | 31 | 60 => {}
            // Garbage: empty, a code-3 packet missing its count byte.
            40 => feed(&mut b, now, i, &[]),
            50 => feed(&mut b, now, i, &[0x03]),
            _ => feed(&mut b, now, i, prompt.frame(usize::from(i)).unwrap()),
        }
        b.handle_timeout(now);
        while b.poll_transmit().is_some() {}
    }
    b.handle_timeout(now + Duration::from_millis(200));
    let s = b.stats();
    assert_eq!(s.lost, 3, "{s:?}");
    // The single loss is concealed; the pair runs the shallow buffer dry,
    // which it reports as an underrun rather than concealment.
    assert!(s.concealed >= 1, "{s:?}");
    assert_eq!(s.codec_errors, 2, "{s:?}");
    assert_eq!(s.malformed, 0, "{s:?}");
}
