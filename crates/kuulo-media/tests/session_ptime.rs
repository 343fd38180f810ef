//! Received packets of other lengths than our 20 ms: a peer sending 10,
//! 25, 30, 40 or 60 ms packets (or changing its packet length) must be
//! played out sample for sample, with keys detected once, whichever way
//! they come; and the in-band detector runs only when the detect mode
//! says so.
//!
//! The peer here is hand-built RTP fed straight into one session in
//! virtual time, because our own sessions always send 20 ms.

use std::f64::consts::PI;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kuulo_media::g711::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};
use kuulo_media::opus::{OpusEncoder, OPUS_CLOCK_RATE};
use kuulo_media::recording::{Recording, RecordingConfig};
use kuulo_media::rtp::RtpBuilder;
use kuulo_media::sdp::{AudioCodec, Direction, Negotiated};
use kuulo_media::session::{
    DtmfDetectMode, DtmfSource, MediaSession, SessionConfig, SessionEvent, SessionStats,
};

const PEER: &str = "10.0.0.9:7000";
const SSRC: u32 = 0x5EED_0001;
const TE_PT: u8 = 101;

fn session_config(codec: AudioCodec, te: bool, remote_ptime: Option<u32>) -> SessionConfig {
    let payload_type = match codec {
        AudioCodec::Pcmu => 0,
        AudioCodec::Pcma => 8,
        AudioCodec::Opus => 111,
    };
    let n = Negotiated {
        codec,
        payload_type,
        telephone_event: te.then_some(TE_PT),
        remote: PEER.parse().unwrap(),
        direction: Direction::SendRecv,
        remote_ptime,
        remote_maxptime: None,
    };
    SessionConfig::new(&n, 42)
}

/// One datagram of the peer's stream and when it leaves.
struct Packet {
    at: Duration,
    bytes: Vec<u8>,
}

/// The peer: numbers packets, keeps the media clock, builds RTP.
struct Peer {
    pt: u8,
    seq: u16,
    ts: u32,
    /// Send time of the next packet.
    clock: Duration,
    packets: Vec<Packet>,
}

impl Peer {
    fn new(pt: u8) -> Self {
        Peer {
            pt,
            seq: 31_000,
            ts: 77_000,
            clock: Duration::from_millis(100),
            packets: Vec::new(),
        }
    }

    fn rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
        let mut buf = vec![0u8; 12 + payload.len()];
        let n = RtpBuilder {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: ts,
            ssrc: SSRC,
            csrc: &[],
            extension: None,
            payload,
            padding: 0,
        }
        .write_to(&mut buf)
        .unwrap();
        buf.truncate(n);
        self.seq = self.seq.wrapping_add(1);
        self.packets.push(Packet {
            at: self.clock,
            bytes: buf,
        });
    }

    /// G.711 audio in packets of `ptime_ms`, one every `ptime_ms`.
    fn g711(&mut self, alaw: bool, pcm: &[i16], ptime_ms: u32) {
        let per = (ptime_ms * 8) as usize;
        for chunk in pcm.chunks(per) {
            let mut payload = vec![0u8; chunk.len()];
            if alaw {
                encode_alaw(chunk, &mut payload);
            } else {
                encode_ulaw(chunk, &mut payload);
            }
            let (pt, ts) = (self.pt, self.ts);
            self.rtp(pt, false, ts, &payload);
            self.ts = self.ts.wrapping_add(chunk.len() as u32);
            self.clock += Duration::from_micros(chunk.len() as u64 * 125);
        }
    }

    /// An RFC 4733 key of `ms`, updates every `ptime_ms`, three end
    /// packets; no audio meanwhile, as phones do.
    fn key(&mut self, event: u8, ms: u32, ptime_ms: u32) {
        let start = self.ts;
        let total = ms * 8;
        let step = ptime_ms * 8;
        let mut duration = step;
        let mut first = true;
        while duration < total {
            let d = duration as u16;
            let payload = [event, 10, (d >> 8) as u8, d as u8];
            self.rtp(TE_PT, first, start, &payload);
            first = false;
            duration += step;
            self.clock += Duration::from_millis(u64::from(ptime_ms));
        }
        let d = total as u16;
        for _ in 0..3 {
            let payload = [event, 0x80 | 10, (d >> 8) as u8, d as u8];
            self.rtp(TE_PT, false, start, &payload);
        }
        self.clock += Duration::from_millis(u64::from(ptime_ms));
        self.ts = self.ts.wrapping_add(total);
    }
}

/// Feeds the packets to a new session that records from the start, runs
/// a second past the last packet and returns the recording, the keys and
/// the counters.
fn receive(
    config: SessionConfig,
    packets: &[Packet],
) -> (Recording, Vec<(char, DtmfSource)>, SessionStats) {
    let t0 = Instant::now();
    let from: SocketAddr = PEER.parse().unwrap();
    let mut s = MediaSession::new(t0, config).unwrap();
    s.start_recording(RecordingConfig {
        max_length: Duration::from_secs(120),
        end_silence: Duration::from_secs(120),
        no_speech_timeout: Duration::from_secs(120),
        trim: false,
        ..RecordingConfig::default()
    });
    let mut events = Vec::new();
    let run_until = |s: &mut MediaSession, t: Instant, events: &mut Vec<SessionEvent>| {
        while let Some(due) = s.poll_timeout().filter(|&d| d <= t) {
            s.handle_timeout(due);
            while s.poll_transmit().is_some() {}
            events.extend(std::iter::from_fn(|| s.poll_event()));
        }
    };
    for p in packets {
        let at = t0 + p.at;
        run_until(&mut s, at, &mut events);
        s.handle_receive(at, from, &p.bytes);
        events.extend(std::iter::from_fn(|| s.poll_event()));
    }
    let end = t0 + packets.last().map_or(Duration::ZERO, |p| p.at) + Duration::from_secs(1);
    run_until(&mut s, end, &mut events);
    s.stop_recording();
    events.extend(std::iter::from_fn(|| s.poll_event()));
    let recording = events
        .iter()
        .find_map(|e| match e {
            SessionEvent::RecordingFinished(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the recording ends when stopped");
    let keys = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Dtmf { digit, source, .. } => Some((*digit, *source)),
            _ => None,
        })
        .collect();
    (recording, keys, s.stats())
}

/// A steady tone that never decodes to a zero sample in A-law, so where
/// the audio starts and ends in the recording is plain.
fn tone(ms: u32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (6000.0 * (2.0 * PI * 700.0 * f64::from(i) / 8000.0 + 0.4).sin()) as i16)
        .collect()
}

/// What the receiver must hear: the audio after one G.711 round trip.
fn through_g711(alaw: bool, pcm: &[i16]) -> Vec<i16> {
    let mut coded = vec![0u8; pcm.len()];
    let mut out = vec![0i16; pcm.len()];
    if alaw {
        encode_alaw(pcm, &mut coded);
        decode_alaw(&coded, &mut out);
    } else {
        encode_ulaw(pcm, &mut coded);
        decode_ulaw(&coded, &mut out);
    }
    out
}

/// Where the non-silent part of a recording starts and ends.
fn heard_span(samples: &[i16]) -> (usize, usize) {
    let start = samples.iter().position(|&s| s != 0).expect("audio heard");
    let end = samples.iter().rposition(|&s| s != 0).unwrap() + 1;
    (start, end)
}

fn assert_played_exactly(ptime_ms: u32, alaw: bool, remote_ptime: Option<u32>) {
    let audio = tone(3000);
    let codec = if alaw {
        AudioCodec::Pcma
    } else {
        AudioCodec::Pcmu
    };
    let mut peer = Peer::new(if alaw { 8 } else { 0 });
    peer.g711(alaw, &audio, ptime_ms);
    let (rec, _, stats) = receive(session_config(codec, true, remote_ptime), &peer.packets);
    let want = through_g711(alaw, &audio);
    let (start, end) = heard_span(&rec.samples);
    assert_eq!(
        end - start,
        want.len(),
        "{ptime_ms} ms packets: heard {} samples of {} (stats {stats:?})",
        end - start,
        want.len()
    );
    assert!(
        rec.samples[start..end] == want[..],
        "{ptime_ms} ms packets: the audio is not played sample for sample"
    );
    assert_eq!(
        (stats.concealed, stats.late, stats.codec_errors),
        (0, 0, 0),
        "{ptime_ms} ms: {stats:?}"
    );
}

#[test]
fn thirty_ms_alaw_packets_play_out_continuously() {
    assert_played_exactly(30, true, None);
}

#[test]
fn ten_ms_packets_play_out_continuously() {
    assert_played_exactly(10, false, None);
}

#[test]
fn forty_sixty_and_odd_25_ms_packets_play_out_continuously() {
    assert_played_exactly(40, false, None);
    assert_played_exactly(60, true, None);
    assert_played_exactly(25, false, None);
}

#[test]
fn packets_longer_than_the_sdp_said_still_play_out() {
    // The peer asked for 20 ms but sends 30 (RFC 3264 lets it).
    assert_played_exactly(30, true, Some(20));
    // And the other way round.
    assert_played_exactly(20, true, Some(30));
}

#[test]
fn a_peer_changing_its_packet_length_is_followed() {
    let first = tone(1000);
    let second: Vec<i16> = tone(2000).iter().map(|s| s / 2).collect();
    let mut peer = Peer::new(8);
    peer.g711(true, &first, 20);
    peer.g711(true, &second, 30);
    let (rec, _, stats) = receive(session_config(AudioCodec::Pcma, true, None), &peer.packets);
    // A-law never decodes to zero, so the non-zero samples are exactly
    // what was played, gaps left out.
    let heard: Vec<i16> = rec.samples.iter().copied().filter(|&s| s != 0).collect();
    let want: Vec<i16> = [through_g711(true, &first), through_g711(true, &second)].concat();
    // Following the new length costs at most a short pause while the new
    // buffer fills, never a sample of the audio.
    assert!(
        heard == want,
        "audio lost or doubled at the switch ({stats:?})"
    );
    let (start, end) = heard_span(&rec.samples);
    let pause = (end - start) - heard.len();
    assert!(pause <= 8 * 80, "a pause of {} ms at the switch", pause / 8);
}

/// Renders a key as two tones at -10 dBm0-ish, as a phone would.
fn dtmf_tone(key: char, ms: u32) -> Vec<i16> {
    let (low, high) = match key {
        '5' => (770.0, 1336.0),
        '7' => (852.0, 1209.0),
        '1' => (697.0, 1209.0),
        '3' => (697.0, 1477.0),
        _ => panic!("no tone for {key}"),
    };
    (0..ms * 8)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (6000.0 * ((2.0 * PI * low * t).sin() + (2.0 * PI * high * t).sin())) as i16
        })
        .collect()
}

fn silence(ms: u32) -> Vec<i16> {
    vec![0; (ms * 8) as usize]
}

#[test]
fn rfc4733_key_in_a_30_ms_call_is_reported_once() {
    let mut peer = Peer::new(8);
    peer.g711(true, &tone(600), 30);
    peer.key(5, 150, 30);
    peer.g711(true, &tone(600), 30);
    let (rec, keys, stats) = receive(
        session_config(AudioCodec::Pcma, true, Some(30)),
        &peer.packets,
    );
    assert_eq!(keys, vec![('5', DtmfSource::Rfc4733)], "{stats:?}");
    // The audio either side of the key is all there.
    let heard = rec.samples.iter().filter(|&&s| s != 0).count();
    assert_eq!(heard, 2 * 600 * 8, "{stats:?}");
}

#[test]
fn inband_key_in_30_and_10_ms_packets_is_reported_once() {
    for ptime in [30, 10] {
        let mut audio = silence(300);
        audio.extend(dtmf_tone('7', 90));
        audio.extend(silence(300));
        let mut peer = Peer::new(8);
        peer.g711(true, &audio, ptime);
        let (_, keys, _) = receive(session_config(AudioCodec::Pcma, false, None), &peer.packets);
        assert_eq!(keys, vec![('7', DtmfSource::InBand)], "{ptime} ms packets");
    }
}

#[test]
fn opus_packets_of_40_ms_play_out_without_gaps() {
    let frame = (OPUS_CLOCK_RATE / 25) as usize; // 40 ms at 48 kHz
    let pcm48: Vec<i16> = (0..frame * 50)
        .map(|i| (6000.0 * (2.0 * PI * 440.0 * i as f64 / 48_000.0).sin()) as i16)
        .collect();
    let mut encoder = OpusEncoder::new(OPUS_CLOCK_RATE, 24_000).unwrap();
    let mut peer = Peer::new(111);
    let mut out = [0u8; 1500];
    for chunk in pcm48.chunks_exact(frame) {
        let n = encoder.encode(chunk, &mut out).unwrap();
        let ts = peer.ts;
        peer.rtp(111, false, ts, &out[..n]);
        peer.ts = peer.ts.wrapping_add(frame as u32);
        peer.clock += Duration::from_millis(40);
    }
    let (rec, _, stats) = receive(session_config(AudioCodec::Opus, true, None), &peer.packets);
    assert_eq!(
        (stats.codec_errors, stats.concealed),
        (0, 0),
        "40 ms Opus packets are decoded whole: {stats:?}"
    );
    // Two seconds of tone: every 10 ms block from the first loud one to
    // the last is loud (a gap would be a block of near silence).
    let blocks: Vec<f64> = rec
        .samples
        .chunks(80)
        .map(|b| (b.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 80.0).sqrt())
        .collect();
    let first = blocks.iter().position(|&r| r > 1000.0).expect("tone heard");
    let last = blocks.iter().rposition(|&r| r > 1000.0).unwrap();
    let span = last - first + 1;
    assert!(
        (198..=202).contains(&span),
        "tone heard for {span} blocks of 10 ms, want 200"
    );
    assert!(
        blocks[first..=last].iter().all(|&r| r > 1000.0),
        "a gap inside the tone"
    );
}

/// Tone '1', then RFC 4733 '5', then tone '3', in a 20 ms call.
fn mixed_keys() -> Vec<Packet> {
    let mut peer = Peer::new(0);
    let mut a = silence(300);
    a.extend(dtmf_tone('1', 100));
    a.extend(silence(300));
    peer.g711(false, &a, 20);
    peer.key(5, 120, 20);
    let mut b = silence(300);
    b.extend(dtmf_tone('3', 100));
    b.extend(silence(300));
    peer.g711(false, &b, 20);
    peer.packets
}

fn keys_with(mode: DtmfDetectMode, te: bool) -> String {
    let mut config = session_config(AudioCodec::Pcmu, te, None);
    config.dtmf_detect = mode;
    let (_, keys, _) = receive(config, &mixed_keys());
    keys.iter()
        .map(|(k, s)| match s {
            DtmfSource::Rfc4733 => k.to_ascii_uppercase(),
            DtmfSource::InBand => match k {
                '1' => 'i',
                '3' => 'j',
                other => *other,
            },
        })
        .collect()
}

#[test]
fn detect_modes_listen_to_what_they_say() {
    // In-band keys show as i ('1') and j ('3'), RFC 4733's '5' as 5.
    assert_eq!(
        keys_with(DtmfDetectMode::Auto, true),
        "i5",
        "Auto stops listening to tones once the peer sends events"
    );
    assert_eq!(
        keys_with(DtmfDetectMode::Auto, false),
        "ij",
        "without telephone-event, Auto listens to tones all call"
    );
    assert_eq!(keys_with(DtmfDetectMode::Negotiated, true), "5");
    assert_eq!(keys_with(DtmfDetectMode::Negotiated, false), "ij");
    assert_eq!(keys_with(DtmfDetectMode::Rfc4733Only, true), "5");
    assert_eq!(keys_with(DtmfDetectMode::InbandOnly, true), "ij");
    assert_eq!(keys_with(DtmfDetectMode::Both, true), "i5j");
}

#[test]
fn auto_is_the_default() {
    let config = session_config(AudioCodec::Pcmu, true, None);
    assert_eq!(config.dtmf_detect, DtmfDetectMode::Auto);
}

mod session_util;

use std::sync::Arc;

use kuulo_media::prompt::EncodedPrompt;
use kuulo_media::session::{DtmfSendMode, IdleMode, PacketKind};
use session_util::{Pair, Side, A_ADDR, B_ADDR};

/// A sends PCMA at the ptime B's SDP asked for; B is an ordinary session.
fn pair_at_ptime(ptime: u32, te: bool, send: DtmfSendMode) -> Pair {
    let t0 = Instant::now();
    let negotiated = |remote: &str, ptime: Option<u32>| Negotiated {
        codec: AudioCodec::Pcma,
        payload_type: 8,
        telephone_event: te.then_some(TE_PT),
        remote: remote.parse().unwrap(),
        direction: Direction::SendRecv,
        remote_ptime: ptime,
        remote_maxptime: None,
    };
    let mut ca = SessionConfig::new(&negotiated(B_ADDR, Some(ptime)), 1);
    ca.idle = IdleMode::Nothing;
    ca.dtmf_send = send;
    let cb = SessionConfig::new(&negotiated(A_ADDR, None), 2);
    assert_eq!(ca.send_ptime, ptime);
    assert_eq!(cb.send_ptime, 20, "no ptime asked: 20 ms");
    let a = MediaSession::new(t0, ca).unwrap();
    let b = MediaSession::new(t0 + Duration::from_millis(3), cb).unwrap();
    Pair::new(t0, a, b)
}

fn alaw_prompt(pcm: &[i16]) -> Arc<EncodedPrompt> {
    Arc::new(EncodedPrompt::from_samples(pcm, AudioCodec::Pcma).unwrap())
}

#[test]
fn we_send_g711_at_the_ptime_the_peer_asked_for() {
    for ptime in [10u32, 30, 40, 60] {
        let mut p = pair_at_ptime(ptime, true, DtmfSendMode::Auto);
        p.b.start_recording(RecordingConfig {
            max_length: Duration::from_secs(60),
            end_silence: Duration::from_secs(60),
            no_speech_timeout: Duration::from_secs(60),
            trim: false,
            ..RecordingConfig::default()
        });
        let audio = tone(1500);
        p.a.play(alaw_prompt(&audio)).unwrap();
        p.run_for(Duration::from_secs(3));
        p.b.stop_recording();
        p.drain();

        // On the wire: packets of the asked length, the RTP clock and the
        // send clock both advancing by it.
        let rtp: Vec<_> = p
            .sent
            .iter()
            .filter(|s| s.from == Side::A && s.kind == PacketKind::Rtp)
            .collect();
        let units = (ptime * 8) as usize;
        let full: Vec<_> = rtp.iter().filter(|s| s.bytes.len() == 12 + units).collect();
        assert_eq!(
            full.len(),
            audio.len() / units,
            "{ptime} ms: every packet but a short last one is {units} samples"
        );
        assert!(
            rtp.len() <= full.len() + 1,
            "{ptime} ms: stray short packets"
        );
        for w in full.windows(2) {
            let ts = |b: &[u8]| u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            assert_eq!(ts(&w[1].bytes).wrapping_sub(ts(&w[0].bytes)), units as u32);
            assert_eq!(w[1].at - w[0].at, Duration::from_millis(u64::from(ptime)));
        }
        assert!(
            p.a.stats().send_interval.quantile(1.0) <= Duration::from_micros(250),
            "{ptime} ms: {:?}",
            p.a.stats().send_interval
        );

        // And the other end plays the prompt sample for sample.
        let rec = p
            .b_events
            .iter()
            .find_map(|(_, e)| match e {
                SessionEvent::RecordingFinished(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap();
        let heard: Vec<i16> = rec.samples.iter().copied().filter(|&s| s != 0).collect();
        assert!(
            heard == through_g711(true, &audio),
            "{ptime} ms: the prompt is not played whole ({} of {} samples)",
            heard.len(),
            audio.len()
        );
        assert!(p.a_finished_playing());
    }
}

#[test]
fn keys_sent_in_a_30_ms_call_arrive_once_each_way() {
    for (te, mode, source) in [
        (true, DtmfSendMode::Rfc4733, DtmfSource::Rfc4733),
        (false, DtmfSendMode::InBand, DtmfSource::InBand),
    ] {
        let mut p = pair_at_ptime(30, te, mode);
        p.a.play(alaw_prompt(&tone(4000))).unwrap();
        p.run_for(Duration::from_millis(400));
        for k in "159#0*".chars() {
            p.a.send_dtmf(k).unwrap();
        }
        p.run_for(Duration::from_secs(4));
        let got = p.b_digits();
        let keys: String = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, "159#0*", "{mode:?}: {got:?}");
        assert!(got.iter().all(|(_, s)| *s == source), "{got:?}");
    }
}

#[test]
fn opus_always_sends_20_ms() {
    let n = Negotiated {
        codec: AudioCodec::Opus,
        payload_type: 111,
        telephone_event: None,
        remote: PEER.parse().unwrap(),
        direction: Direction::SendRecv,
        remote_ptime: Some(40),
        remote_maxptime: None,
    };
    assert_eq!(SessionConfig::new(&n, 1).send_ptime, 20);
    // Odd asks fall back to 20 ms, and maxptime caps what we send.
    for (ptime, maxptime, want) in [
        (Some(25), None, 20),
        (Some(80), None, 20),
        (Some(5), None, 20),
        (Some(50), None, 50),
        (None, Some(10), 10),
        (Some(40), Some(30), 30),
        (Some(30), Some(35), 30),
        (Some(20), Some(150), 20),
    ] {
        let n = Negotiated {
            codec: AudioCodec::Pcmu,
            payload_type: 0,
            remote_ptime: ptime,
            remote_maxptime: maxptime,
            ..n.clone()
        };
        assert_eq!(
            SessionConfig::new(&n, 1).send_ptime,
            want,
            "ptime {ptime:?} maxptime {maxptime:?}"
        );
    }
}
