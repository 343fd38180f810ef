//! The survey engine calling a population of simulated residents, in
//! virtual time: every persona (busy, no answer, decline, hang up midway,
//! wrong key, voice answer) shows up in the dispositions, and every answer a
//! resident gave is the answer the engine stored for that call.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::engine::{
    Disposition, EngineConfig, EngineEvent, LibraryError, PromptLibrary, SurveyEngine,
};
use kuulo::ivr::SurveyScript;
use kuulo::media::prompt::EncodedPrompt;
use kuulo::media::sdp::AudioCodec;
use kuulo::media::session::{IdleMode, PacketKind};
use kuulo::sim::{PopulationConfig, ResidentPopulation};
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use kuulo::sip::ua::CallHandle;
use support::{tone, Ended};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn engine_and_simulated_residents_agree_on_every_answer() {
    let script_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/surveys/digital-services/survey.toml");
    let script = Arc::new(SurveyScript::load(&script_path).unwrap());
    // Prompts as short tones: no espeak-ng needed, and quick calls.
    let prompts = PromptLibrary::build(&script, |_, _, _| {
        Ok::<_, LibraryError>(tone(300, 600.0, 6000.0))
    })
    .unwrap();
    let engine_sip = addr("10.0.0.1:5080");
    let engine_rtp = addr("10.0.0.1:30000");
    let mut cfg = EngineConfig::new(engine_sip, engine_rtp);
    cfg.media_idle = IdleMode::Nothing;
    cfg.accept_incoming = false;
    let mut engine = SurveyEngine::new(cfg, Arc::clone(&script), Arc::new(prompts));

    let pop_sip = addr("10.0.0.2:5060");
    let pop_ip = addr("10.0.0.2:0").ip();
    let mut pop_cfg = PopulationConfig::new(pop_sip, pop_ip, 20000, 200);
    pop_cfg.seed = 42;
    let voice = Arc::new(
        EncodedPrompt::from_samples(&tone(1200, 440.0, 8000.0), AudioCodec::Pcmu).unwrap(),
    );
    let mut pop = ResidentPopulation::new(pop_cfg, Arc::clone(&script), voice);

    let mut now = Instant::now();
    let start = now;
    let total = 80;
    let mut placed = 0;
    let mut ringing_since: HashMap<CallHandle, Instant> = HashMap::new();
    let mut sip_ids: HashMap<CallHandle, String> = HashMap::new();
    let mut ended: Vec<Ended> = Vec::new();
    let target = Uri::parse("sip:resident@10.0.0.2:5060").unwrap();
    let ring_timeout = Duration::from_secs(20);
    let mut stuck = 0u32;

    while now - start < Duration::from_secs(600) {
        // Ten new calls a second.
        while placed < total && now >= start + Duration::from_millis(100 * placed as u64) {
            let h = engine
                .place_call(now, target.clone(), Peer::udp(pop_sip))
                .unwrap();
            ringing_since.insert(h, now);
            placed += 1;
        }
        for (h, since) in ringing_since.clone() {
            if !engine.is_ringing(h) {
                ringing_since.remove(&h);
            } else if now - since >= ring_timeout {
                engine.hangup(now, h);
                ringing_since.remove(&h);
            }
        }
        // Move everything until quiet.
        loop {
            let mut moved = false;
            while let Some(t) = engine.poll_sip_transmit() {
                moved = true;
                pop.handle_sip(now, Peer::udp(engine_sip), t.payload);
            }
            while let Some(d) = engine.poll_media_transmit() {
                moved = true;
                let from = match d.kind {
                    PacketKind::Rtp => engine_rtp,
                    PacketKind::Rtcp => SocketAddr::new(engine_rtp.ip(), engine_rtp.port() + 1),
                };
                pop.handle_media(now, d.destination.port(), from, d.contents());
            }
            while let Some(t) = pop.poll_sip_transmit() {
                moved = true;
                engine.handle_sip(now, Peer::udp(pop_sip), t.payload);
            }
            while let Some(d) = pop.poll_media_transmit() {
                moved = true;
                let from = SocketAddr::new(pop_ip, d.local_port());
                engine.handle_media(now, from, d.contents());
            }
            while engine.poll_store_op().is_some() {}
            while let Some(ev) = engine.poll_event() {
                match ev {
                    EngineEvent::CallStarted { call, sip_call_id } => {
                        sip_ids.insert(call, sip_call_id);
                    }
                    EngineEvent::CallEnded {
                        call,
                        disposition,
                        answers,
                        ..
                    } => {
                        ringing_since.remove(&call);
                        let answers = answers
                            .into_iter()
                            .map(|(q, v)| (q.to_string(), v.to_string()))
                            .collect();
                        ended.push((call, disposition, answers));
                    }
                }
            }
            if !moved {
                break;
            }
        }
        if placed == total && engine.call_count() == 0 && pop.call_count() == 0 {
            break;
        }
        let next_call =
            (placed < total).then(|| start + Duration::from_millis(100 * placed as u64));
        let next_ring = ringing_since.values().map(|t| *t + ring_timeout).min();
        let next = [
            engine.poll_timeout(),
            pop.poll_timeout(),
            next_call,
            next_ring,
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("something is always pending until every call ended");
        if next <= now {
            stuck += 1;
            assert!(
                stuck < 10_000,
                "virtual time stopped at {:?}: engine {:?} population {:?}",
                now - start,
                engine
                    .poll_timeout()
                    .map(|t| t.saturating_duration_since(start)),
                pop.poll_timeout()
                    .map(|t| t.saturating_duration_since(start))
            );
        } else {
            stuck = 0;
        }
        now = next.max(now);
        engine.handle_timeout(now);
        pop.handle_timeout(now);
    }

    assert_eq!(
        ended.len(),
        total,
        "every call ended within 10 virtual minutes"
    );
    let count = |d: Disposition| ended.iter().filter(|(_, x, _)| *x == d).count();
    let stats = pop.stats().clone();
    let mut histogram: HashMap<String, usize> = HashMap::new();
    for (_, d, _) in &ended {
        *histogram.entry(format!("{d:?}")).or_default() += 1;
    }
    eprintln!("dispositions: {histogram:?}\npopulation: {stats:?}");
    assert_eq!(stats.calls as usize, total);
    assert_eq!(count(Disposition::Busy), stats.busy as usize, "{stats:?}");
    assert_eq!(
        count(Disposition::NoAnswer),
        stats.no_answer as usize,
        "{stats:?}"
    );
    assert_eq!(
        count(Disposition::DeclinedConsent),
        stats.declined as usize,
        "{stats:?}"
    );
    assert!(
        count(Disposition::Completed) > 0 && stats.voice_answers > 0,
        "{stats:?}"
    );
    assert!(
        count(Disposition::Partial) > 0,
        "some hang up midway: {stats:?}"
    );

    // Every answer a resident gave is what the engine stored for its call.
    let mut by_call: HashMap<&str, Vec<(String, String)>> = HashMap::new();
    for a in pop.answers() {
        by_call
            .entry(a.call_id.as_str())
            .or_default()
            .push((a.question.clone(), a.value.to_string()));
    }
    let mut compared = 0;
    for (call, _, answers) in &ended {
        let Some(id) = sip_ids.get(call) else {
            continue;
        };
        let given = by_call.get(id.as_str()).cloned().unwrap_or_default();
        assert_eq!(answers, &given, "call {id}");
        compared += answers.len();
    }
    assert!(compared > 100, "only {compared} answers compared");
}
