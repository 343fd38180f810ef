//! The survey engine in virtual time: a resident (a second `UserAgent` and
//! `MediaSession`) calls the engine, presses keys with RFC 4733, speaks (a
//! tone) or hangs up, and the results land in a real SQLite store.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kuulo::campaign::Store;
use kuulo::engine::store::{campaign_for, StoreApplier};
use kuulo::engine::{
    Disposition, EngineConfig, EngineEvent, LibraryError, MediaPorts, PromptLibrary, SurveyEngine,
};
use kuulo::ivr::SurveyScript;
use kuulo::media::prompt::EncodedPrompt;
use kuulo::media::sdp::{self, AudioCodec, MediaConfig, SessionDescription};
use kuulo::media::session::{
    DtmfDetectMode, DtmfSendMode, MediaSession, PacketKind, SessionConfig,
};
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use kuulo::sip::ua::{CallHandle, EndReason, UaConfig, UaEvent, UserAgent};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/surveys/keys/survey.toml"
);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// 8 kHz samples of a tone: stands in for prompts (no espeak-ng needed)
/// and for the resident's voice.
fn tone(ms: u32, hz: f32, amplitude: f32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

/// What the resident does, at a time after the call is answered.
#[derive(Clone, Copy, Debug)]
enum Act {
    Key(char),
    Speak(u32),
    HangUp,
}

struct Resident {
    ua: UserAgent,
    sip: SocketAddr,
    rtp: SocketAddr,
    offer: SessionDescription,
    media: Option<MediaSession>,
    call: Option<CallHandle>,
    answered_at: Option<Instant>,
    ended: bool,
    plan: Vec<(Duration, Act)>,
    /// Send keys as tones in the audio instead of RFC 4733 events.
    inband: bool,
    /// Where the engine's SDP answer said to send media.
    engine_media: Option<SocketAddr>,
    /// SIP final status of a call the engine refused.
    refused: Option<u16>,
}

impl Resident {
    fn new(sip: &str, rtp: &str, from: &str, plan: Vec<(Duration, Act)>) -> Resident {
        let sip = addr(sip);
        let rtp = addr(rtp);
        let mut cfg = UaConfig::new(sip);
        cfg.from = from.to_owned();
        let mut media = MediaConfig::new(rtp.ip(), rtp.port());
        media.codecs = vec![AudioCodec::Pcmu];
        Resident {
            ua: UserAgent::new(cfg),
            sip,
            rtp,
            offer: sdp::build_offer(&media),
            media: None,
            call: None,
            answered_at: None,
            ended: false,
            plan,
            inband: false,
            engine_media: None,
            refused: None,
        }
    }

    fn next_timeout(&self) -> Option<Instant> {
        let plan = match (self.answered_at, self.plan.first()) {
            (Some(at), Some((after, _))) => Some(at + *after),
            _ => None,
        };
        let media = self.media.as_ref().and_then(MediaSession::poll_timeout);
        [self.ua.poll_timeout(), media, plan]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        if let Some(m) = self.media.as_mut() {
            m.handle_timeout(now);
        }
        while let (Some(at), Some((after, act))) = (self.answered_at, self.plan.first().copied()) {
            if at + after > now {
                break;
            }
            self.plan.remove(0);
            let (Some(m), Some(call)) = (self.media.as_mut(), self.call) else {
                break;
            };
            match act {
                Act::Key(k) => m.send_dtmf(k).unwrap(),
                Act::Speak(ms) => {
                    let voice =
                        EncodedPrompt::from_samples(&tone(ms, 440.0, 8000.0), AudioCodec::Pcmu);
                    m.play(Arc::new(voice.unwrap())).unwrap();
                }
                Act::HangUp => self.ua.hangup(now, call),
            }
        }
    }

    fn on_events(&mut self, now: Instant) {
        while let Some(ev) = self.ua.poll_event() {
            match ev {
                UaEvent::Answered { answer, .. } => {
                    let answer = SessionDescription::parse(&answer.unwrap()).unwrap();
                    let negotiated = sdp::accept_answer(&self.offer, &answer).unwrap();
                    self.engine_media = Some(negotiated.remote);
                    let mut cfg = SessionConfig::new(&negotiated, 7);
                    if self.inband {
                        cfg.dtmf_send = DtmfSendMode::InBand;
                    }
                    self.media = Some(MediaSession::new(now, cfg).unwrap());
                    self.answered_at = Some(now);
                }
                UaEvent::Ended { reason, .. } => {
                    if let EndReason::Rejected { status, .. } = reason {
                        self.refused = Some(status);
                    }
                    self.ended = true;
                    if let Some(m) = self.media.as_mut() {
                        m.close(now);
                    }
                }
                _ => {}
            }
        }
    }
}

struct Harness {
    engine: SurveyEngine,
    engine_sip: SocketAddr,
    engine_rtp: SocketAddr,
    residents: Vec<Resident>,
    store: StoreApplier,
    now: Instant,
    events: Vec<EngineEvent>,
    db: std::path::PathBuf,
}

impl Harness {
    fn new(dir: &Path, residents: Vec<Resident>) -> Harness {
        Harness::with_config(dir, residents, |_| {})
    }

    /// Like [`Harness::new`], with the engine's config adjusted first.
    fn with_config(
        dir: &Path,
        residents: Vec<Resident>,
        adjust: impl FnOnce(&mut EngineConfig),
    ) -> Harness {
        let script = Arc::new(SurveyScript::load(SCRIPT).unwrap());
        // Each prompt 0.4 s: long enough to barge into, short to wait for.
        let prompts = PromptLibrary::build(&script, |_, _, _| {
            Ok::<_, LibraryError>(tone(400, 600.0, 6000.0))
        })
        .unwrap();
        let engine_sip = addr("10.0.0.1:5080");
        let engine_rtp = addr("10.0.0.1:30000");
        let mut config = EngineConfig::new(engine_sip, engine_rtp);
        adjust(&mut config);
        let engine = SurveyEngine::new(config, Arc::clone(&script), Arc::new(prompts));
        let mut store = Store::open(dir.join("results.sqlite")).unwrap();
        let campaign = campaign_for(&mut store, &script.id, &script.title).unwrap();
        let store = StoreApplier::new(store, campaign, dir.join("recordings"));
        Harness {
            engine,
            engine_sip,
            engine_rtp,
            residents,
            store,
            now: Instant::now(),
            events: Vec::new(),
            db: dir.join("results.sqlite"),
        }
    }

    fn dial(&mut self) {
        let target = Uri::parse("sip:survey@10.0.0.1:5080").unwrap();
        for r in &mut self.residents {
            let offer = Bytes::from(r.offer.to_string());
            r.call = Some(r.ua.invite(self.now, target.clone(), Peer::udp(self.engine_sip), offer));
        }
    }

    /// Moves every datagram, store write and event until all is quiet.
    fn exchange(&mut self) {
        let now = self.now;
        loop {
            let mut moved = false;
            while let Some(t) = self.engine.poll_sip_transmit() {
                moved = true;
                if let Some(r) = self
                    .residents
                    .iter_mut()
                    .find(|r| r.sip == t.destination.addr)
                {
                    r.ua.handle_datagram(now, Peer::udp(self.engine_sip), t.payload);
                }
            }
            while let Some(d) = self.engine.poll_media_transmit() {
                moved = true;
                let from = match d.kind {
                    PacketKind::Rtp => SocketAddr::new(self.engine_rtp.ip(), d.local_rtp_port),
                    PacketKind::Rtcp => SocketAddr::new(self.engine_rtp.ip(), d.local_rtp_port + 1),
                };
                let to_rtp = SocketAddr::new(d.destination.ip(), d.destination.port() & !1);
                // Residents may share a media address: the engine's port
                // tells them apart, as a NAT's port mapping would.
                if let Some(r) = self.residents.iter_mut().find(|r| {
                    r.rtp == to_rtp && r.engine_media.is_none_or(|m| m.port() == d.local_rtp_port)
                }) {
                    if let Some(m) = r.media.as_mut() {
                        m.handle_receive(now, from, d.contents());
                    }
                }
            }
            while let Some(op) = self.engine.poll_store_op() {
                self.store.apply(op);
            }
            while let Some(ev) = self.engine.poll_event() {
                self.events.push(ev);
            }
            for r in &mut self.residents {
                r.on_events(now);
                while let Some(t) = r.ua.poll_transmit() {
                    moved = true;
                    self.engine.handle_sip(now, Peer::udp(r.sip), t.payload);
                }
                if let Some(m) = r.media.as_mut() {
                    while let Some(t) = m.poll_transmit() {
                        moved = true;
                        let from = match t.kind {
                            PacketKind::Rtp => r.rtp,
                            PacketKind::Rtcp => SocketAddr::new(r.rtp.ip(), r.rtp.port() + 1),
                        };
                        let contents = t.contents.to_vec();
                        let to = r.engine_media.map_or(self.engine_rtp.port(), |a| a.port());
                        let local = match t.kind {
                            PacketKind::Rtp => to,
                            PacketKind::Rtcp => to + 1,
                        };
                        self.engine.handle_media_on(now, local, from, &contents);
                    }
                    while m.poll_event().is_some() {}
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Runs in virtual time until every call is over (or `limit` passes).
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        self.exchange();
        while self.now < end {
            let next = self
                .residents
                .iter()
                .filter_map(Resident::next_timeout)
                .chain(self.engine.poll_timeout())
                .min()
                .unwrap_or(end)
                .max(self.now);
            self.now = next.min(end);
            self.engine.handle_timeout(self.now);
            for r in &mut self.residents {
                r.handle_timeout(self.now);
            }
            self.exchange();
            if self.engine.call_count() == 0 && self.residents.iter().all(|r| r.ended) {
                break;
            }
        }
    }

    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let db = rusqlite::Connection::open(&self.db).unwrap();
        let mut stmt = db.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |row| {
            (0..n)
                .map(|i| {
                    row.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }
}

fn harness(dir: &Path, residents: Vec<Resident>) -> Harness {
    Harness::new(dir, residents)
}

fn s(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn answers(h: &Harness) -> Vec<(String, String)> {
    h.rows("SELECT question, value FROM answers ORDER BY rowid")
        .into_iter()
        .map(|r| (unquote(&r[0]), unquote(&r[1])))
        .collect()
}

/// The answers to "again" of every call, sorted.
fn again_answers(h: &Harness) -> Vec<String> {
    let mut again: Vec<String> = answers(h)
        .into_iter()
        .filter(|(q, _)| q == "again")
        .map(|(_, v)| v)
        .collect();
    again.sort();
    again
}

fn dispositions(h: &Harness) -> Vec<String> {
    h.rows("SELECT disposition FROM calls ORDER BY started_at")
        .into_iter()
        .map(|r| unquote(&r[0]))
        .collect()
}

/// `Text("yes")` as rusqlite's Debug writes it, back to `yes`.
fn unquote(v: &str) -> String {
    v.strip_prefix("Text(\"")
        .and_then(|v| v.strip_suffix("\")"))
        .unwrap_or(v)
        .to_owned()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_whole_survey_by_keypad_and_voice_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    // Prompts are 0.4 s: intro ends at 0.4, consent at 0.8; keys after a
    // prompt has ended land in the question's input window.
    let plan = vec![
        (s(1500), Act::Key('1')),
        (s(3000), Act::Key('1')),
        (s(4500), Act::Key('4')),
        // comment prompt ~0.4 s + beep 0.25 s, then speak 1.5 s and let the
        // 2 s of silence end the recording.
        (s(6500), Act::Speak(1500)),
    ];
    let resident = Resident::new(
        "10.0.0.2:5060",
        "10.0.0.2:40000",
        "<sip:resident@10.0.0.2>",
        plan,
    );
    let mut h = harness(dir.path(), vec![resident]);
    h.dial();
    h.run(Duration::from_secs(60));
    assert!(h.residents[0].ended, "the engine hung up");
    assert!(h.events.iter().any(|e| matches!(
        e,
        EngineEvent::CallEnded { disposition: Disposition::Completed, answers, .. } if answers.len() == 4
    )));
    assert_eq!(
        answers(&h),
        pairs(&[
            ("consent", "yes"),
            ("again", "yes"),
            ("rating", "4"),
            ("comment", "recorded")
        ])
    );
    assert_eq!(dispositions(&h), vec!["completed"]);
    let recs = h.rows("SELECT path, duration_ms FROM recordings");
    assert_eq!(recs.len(), 1);
    let file = dir.path().join("recordings").join(unquote(&recs[0][0]));
    assert!(file.is_file(), "{} written", file.display());
    assert!(
        !unquote(&recs[0][0]).contains("resident"),
        "named by pseudonymous id"
    );
}

#[test]
fn hanging_up_midway_keeps_the_answers_given() {
    let dir = tempfile::tempdir().unwrap();
    let plan = vec![
        (s(1500), Act::Key('1')),
        (s(3000), Act::Key('2')),
        (s(3600), Act::HangUp),
    ];
    let resident = Resident::new(
        "10.0.0.2:5060",
        "10.0.0.2:40000",
        "<sip:resident@10.0.0.2>",
        plan,
    );
    let mut h = harness(dir.path(), vec![resident]);
    h.dial();
    h.run(Duration::from_secs(60));
    assert_eq!(answers(&h), pairs(&[("consent", "yes"), ("again", "no")]));
    assert_eq!(dispositions(&h), vec!["partial"]);
}

#[test]
fn opting_out_is_recorded_and_the_number_is_never_called_again() {
    let dir = tempfile::tempdir().unwrap();
    let plan = vec![(s(1500), Act::Key('1')), (s(3000), Act::Key('9'))];
    let resident = Resident::new(
        "10.0.0.2:5060",
        "10.0.0.2:40000",
        "<sip:+358401234567@10.0.0.2>",
        plan,
    );
    let mut h = harness(dir.path(), vec![resident]);
    h.dial();
    h.run(Duration::from_secs(60));
    assert!(h.residents[0].ended, "the engine said goodbye and hung up");
    assert_eq!(answers(&h), pairs(&[("consent", "yes")]));
    assert_eq!(dispositions(&h), vec!["opted_out"]);
    let store = Store::open(dir.path().join("results.sqlite")).unwrap();
    assert!(store.do_not_call("+358401234567").unwrap().is_some());
    // The number itself is stored nowhere but as a keyed hash.
    let calls = h.rows("SELECT pseudonym FROM calls");
    assert!(!format!("{calls:?}").contains("358401234567"));
}

#[test]
fn two_calls_at_once_are_routed_to_their_own_surveys() {
    let dir = tempfile::tempdir().unwrap();
    let a = Resident::new(
        "10.0.0.2:5060",
        "10.0.0.2:40000",
        "<sip:a@10.0.0.2>",
        vec![
            (s(1500), Act::Key('1')),
            (s(3000), Act::Key('1')),
            (s(3500), Act::HangUp),
        ],
    );
    let b = Resident::new(
        "10.0.0.3:5060",
        "10.0.0.3:40000",
        "<sip:b@10.0.0.3>",
        vec![
            (s(1500), Act::Key('1')),
            (s(3000), Act::Key('2')),
            (s(3500), Act::HangUp),
        ],
    );
    let mut h = harness(dir.path(), vec![a, b]);
    h.dial();
    h.run(Duration::from_secs(60));
    assert_eq!(again_answers(&h), vec!["no", "yes"]);
    assert_eq!(dispositions(&h), vec!["partial", "partial"]);
    // Only what a resident sends after its hang-up (the RTCP BYE) finds
    // no call; nothing was delivered to the wrong one.
    assert!(
        h.engine.unrouted_media() <= 4,
        "{}",
        h.engine.unrouted_media()
    );
}

/// Two residents whose media comes from one address and SSRC (a media
/// server behind one port, or sipp replaying one pcap): only a port per
/// call tells them apart.
fn twins() -> Vec<Resident> {
    ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let second = if i == 0 { '1' } else { '2' };
            Resident::new(
                &format!("10.0.0.{}:5060", i + 2),
                "10.0.0.9:40000",
                &format!("<sip:{name}@10.0.0.{}>", i + 2),
                vec![
                    (s(1500), Act::Key('1')),
                    (s(3000), Act::Key(second)),
                    (s(3500), Act::HangUp),
                ],
            )
        })
        .collect()
}

fn pool(ports: &[u16]) -> MediaPorts {
    MediaPorts::Pool {
        rtp_ports: ports.to_vec(),
        quarantine: Duration::from_secs(10),
    }
}

#[test]
fn a_port_per_call_tells_apart_calls_from_one_media_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), twins(), |c| {
        c.media_ports = pool(&[30100, 30102, 30104]);
    });
    h.dial();
    h.run(Duration::from_secs(60));
    assert_eq!(again_answers(&h), vec!["no", "yes"]);
    let mut ports: Vec<u16> = h
        .residents
        .iter()
        .map(|r| r.engine_media.unwrap().port())
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![30100, 30102],
        "each call has a pair of the pool"
    );
    assert!(
        h.engine.unrouted_media() <= 4,
        "{}",
        h.engine.unrouted_media()
    );
}

#[test]
fn with_every_pair_taken_a_call_is_refused_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(dir.path(), twins(), |c| {
        c.media_ports = pool(&[30100]);
    });
    h.dial();
    h.run(Duration::from_secs(60));
    let refused: Vec<Option<u16>> = h.residents.iter().map(|r| r.refused).collect();
    assert_eq!(refused, vec![None, Some(503)], "the second finds no pair");
    assert_eq!(answers(&h).iter().filter(|(q, _)| q == "again").count(), 1);
    // The pair rests after its call: an outbound call right away finds
    // none, and says what to do.
    let target = Uri::parse("sip:resident@10.0.0.2:5060").unwrap();
    let err = h
        .engine
        .place_call(h.now, target.clone(), Peer::udp(addr("10.0.0.2:5060")))
        .unwrap_err();
    assert!(
        err.to_string().contains("widen the RTP port range"),
        "{err}"
    );
    // After the quarantine it is free again.
    let later = h.now + Duration::from_secs(11);
    h.engine
        .place_call(later, target, Peer::udp(addr("10.0.0.2:5060")))
        .unwrap();
}

/// A resident who presses 1, 2 and 5 as tones in the audio, then hangs up.
fn inband_resident() -> Resident {
    let plan = vec![
        (s(1500), Act::Key('1')),
        (s(3000), Act::Key('2')),
        (s(4500), Act::Key('5')),
        (s(5000), Act::HangUp),
    ];
    let mut resident = Resident::new(
        "10.0.0.2:5060",
        "10.0.0.2:40000",
        "<sip:resident@10.0.0.2>",
        plan,
    );
    resident.inband = true;
    resident
}

#[test]
fn in_band_keys_reach_the_survey_too() {
    let dir = tempfile::tempdir().unwrap();
    let resident = inband_resident();
    let mut h = harness(dir.path(), vec![resident]);
    h.dial();
    h.run(Duration::from_secs(60));
    assert_eq!(
        answers(&h),
        pairs(&[("consent", "yes"), ("again", "no"), ("rating", "5")])
    );
    assert_eq!(dispositions(&h), vec!["partial"]);
}

/// `--dtmf-detect rfc4733`: a trunk profile that trusts only events. The
/// same tones as above must then answer nothing.
#[test]
fn in_band_keys_are_ignored_when_only_rfc4733_is_listened_to() {
    let dir = tempfile::tempdir().unwrap();
    let resident = inband_resident();
    let mut h = Harness::with_config(dir.path(), vec![resident], |c| {
        c.dtmf_detect = DtmfDetectMode::Rfc4733Only;
    });
    h.dial();
    h.run(Duration::from_secs(60));
    let stored = answers(&h);
    for pressed in pairs(&[("consent", "yes"), ("again", "no"), ("rating", "5")]) {
        assert!(
            !stored.contains(&pressed),
            "{pressed:?} came from a tone: {stored:?}"
        );
    }
    assert_eq!(dispositions(&h).len(), 1);
}

#[test]
fn garbage_on_the_media_and_sip_sockets_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let plan = vec![(s(1500), Act::Key('1')), (s(3000), Act::HangUp)];
    let resident = Resident::new(
        "10.0.0.2:5060",
        "10.0.0.2:40000",
        "<sip:resident@10.0.0.2>",
        plan,
    );
    let mut h = harness(dir.path(), vec![resident]);
    h.dial();
    h.run(Duration::from_millis(500));
    // Deterministic junk: truncated and oversized RTP/RTCP-looking
    // headers, and bytes that are no SIP at all, from known and unknown
    // addresses.
    let mut seed = 0x1234_5678_u64;
    for i in 0..2000usize {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (seed >> 33) as usize % 300;
        let mut junk: Vec<u8> = (0..len).map(|j| (seed >> (j % 56)) as u8).collect();
        if let Some(b) = junk.first_mut() {
            *b = if i % 2 == 0 { 0x80 } else { *b };
        }
        let from = if i % 3 == 0 {
            addr("10.0.0.2:40000")
        } else {
            addr("10.9.9.9:1234")
        };
        h.engine.handle_media(h.now, from, &junk);
        h.engine
            .handle_sip(h.now, Peer::udp(addr("10.9.9.9:5060")), Bytes::from(junk));
    }
    h.run(Duration::from_secs(60));
    assert_eq!(answers(&h), pairs(&[("consent", "yes")]));
    assert_eq!(dispositions(&h), vec!["partial"]);
}
