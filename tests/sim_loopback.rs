//! The survey engine dialling simulated residents over real loopback
//! sockets, each side with its own tokio driver: the shape of `kuulo demo`
//! and of the load benchmark's smoke run. Every call must end, and every
//! answer a resident gave must be the answer the engine reported.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::campaign::Store;
use kuulo::engine::driver::{run_app, Bounds, EngineApp, EngineSockets};
use kuulo::engine::store::{campaign_for, StoreApplier, StoreWorker};
use kuulo::engine::{
    Disposition, EngineConfig, EngineEvent, LibraryError, PromptLibrary, SurveyEngine,
};
use kuulo::ivr::SurveyScript;
use kuulo::media::prompt::EncodedPrompt;
use kuulo::media::sdp::AudioCodec;
use kuulo::media::session::IdleMode;
use kuulo::sim::driver::PopulationSockets;
use kuulo::sim::{GivenAnswer, PopulationConfig, ResidentPopulation, Shares};
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use kuulo::sip::ua::CallHandle;
use support::{tone, Ended};

/// Places `total` calls at a fixed rate and hangs up calls ringing too long.
struct Dialler {
    target: Uri,
    destination: Peer,
    total: usize,
    placed: usize,
    start: Instant,
    interval: Duration,
    ring_timeout: Duration,
    ringing: HashMap<CallHandle, Instant>,
    sip_ids: HashMap<CallHandle, String>,
    ended: Vec<Ended>,
}

impl EngineApp for Dialler {
    fn on_event(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::CallStarted { call, sip_call_id } => {
                self.sip_ids.insert(*call, sip_call_id.clone());
            }
            EngineEvent::CallEnded {
                call,
                disposition,
                answers,
                ..
            } => {
                self.ringing.remove(call);
                let answers = answers
                    .iter()
                    .map(|(q, v)| (q.to_string(), v.to_string()))
                    .collect();
                self.ended.push((*call, *disposition, answers));
            }
        }
    }

    fn on_tick(&mut self, engine: &mut SurveyEngine, now: Instant) {
        while self.placed < self.total && now >= self.start + self.interval * self.placed as u32 {
            let h = engine
                .place_call(now, self.target.clone(), self.destination)
                .expect("engine has room");
            self.ringing.insert(h, now);
            self.placed += 1;
        }
        for (h, since) in self.ringing.clone() {
            if !engine.is_ringing(h) {
                self.ringing.remove(&h);
            } else if now - since >= self.ring_timeout {
                engine.hangup(now, h);
                self.ringing.remove(&h);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let next_call =
            (self.placed < self.total).then(|| self.start + self.interval * self.placed as u32);
        let ring = self.ringing.values().map(|t| *t + self.ring_timeout).min();
        [next_call, ring].into_iter().flatten().min()
    }
}

#[test]
fn engine_dials_simulated_residents_over_loopback() {
    let script_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/surveys/digital-services/survey.toml");
    let script = Arc::new(SurveyScript::load(&script_path).unwrap());
    let dir = tempfile::tempdir().unwrap();

    // The residents, on their own thread and runtime.
    let rtp_base = 40_000 + (std::process::id() % 40) as u16 * 200;
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pop_script = Arc::clone(&script);
    let residents =
        std::thread::spawn(move || -> (Vec<GivenAnswer>, kuulo::sim::PopulationStats) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let ip = "127.0.0.1".parse().unwrap();
                let sockets =
                    PopulationSockets::bind("127.0.0.1:0".parse().unwrap(), ip, rtp_base, 40)
                        .expect("bind the residents' ports");
                let sip = sockets.sip_addr().unwrap();
                let mut cfg = PopulationConfig::new(sip, ip, rtp_base, 40);
                cfg.seed = 7;
                cfg.answer_delay = (Duration::from_millis(200), Duration::from_secs(1));
                cfg.think_time = (Duration::from_millis(100), Duration::from_millis(400));
                cfg.shares = Shares {
                    busy: 0.1,
                    no_answer: 0.1,
                    decline: 0.1,
                    hang_up_midway: 0.1,
                    wrong_key: 0.2,
                };
                let voice =
                    EncodedPrompt::from_samples(&tone(1200, 440.0, 8000.0), AudioCodec::Pcmu)
                        .unwrap();
                let mut pop = ResidentPopulation::new(cfg, pop_script, Arc::new(voice));
                addr_tx.send(sip).unwrap();
                kuulo::sim::driver::run(&mut pop, sockets, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
                (pop.answers().to_vec(), pop.stats().clone())
            })
        });
    let pop_sip = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let total = 20;
    let dialler = rt.block_on(async {
        let sockets = EngineSockets::bind(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let prompts = PromptLibrary::build(&script, |_, _, _| {
            Ok::<_, LibraryError>(tone(300, 600.0, 6000.0))
        })
        .unwrap();
        let mut config =
            EngineConfig::new(sockets.sip_addr().unwrap(), sockets.rtp_addr().unwrap());
        config.accept_incoming = false;
        config.media_idle = IdleMode::Nothing;
        let mut engine = SurveyEngine::new(config, Arc::clone(&script), Arc::new(prompts));
        let mut store = Store::open(dir.path().join("results.sqlite")).unwrap();
        let campaign = campaign_for(&mut store, &script.id, &script.title).unwrap();
        let worker =
            StoreWorker::spawn(StoreApplier::new(store, campaign, dir.path().join("rec"))).unwrap();
        let mut dialler = Dialler {
            target: Uri::parse(&format!("sip:resident@{pop_sip}")).unwrap(),
            destination: Peer::udp(pop_sip),
            total,
            placed: 0,
            start: Instant::now(),
            interval: Duration::from_millis(100),
            ring_timeout: Duration::from_secs(5),
            ringing: HashMap::new(),
            sip_ids: HashMap::new(),
            ended: Vec::new(),
        };
        let bounds = Bounds {
            max_calls: Some(total as u64),
            until: Some(Instant::now() + Duration::from_secs(120)),
        };
        run_app(
            &mut engine,
            &sockets,
            &worker,
            bounds,
            std::future::pending(),
            &mut dialler,
        )
        .await
        .unwrap();
        let report = worker.finish();
        assert_eq!(report.errors, 0);
        dialler
    });
    let _ = stop_tx.send(());
    let (given, stats) = residents.join().unwrap();

    assert_eq!(dialler.ended.len(), total, "every call ended: {stats:?}");
    assert_eq!(stats.calls as usize, total);
    let completed = dialler
        .ended
        .iter()
        .filter(|(_, d, _)| *d == Disposition::Completed)
        .count();
    assert!(completed > 0, "{stats:?}");
    let mut by_call: HashMap<&str, Vec<(String, String)>> = HashMap::new();
    for a in &given {
        by_call
            .entry(a.call_id.as_str())
            .or_default()
            .push((a.question.clone(), a.value.to_string()));
    }
    for (call, _, answers) in &dialler.ended {
        let Some(id) = dialler.sip_ids.get(call) else {
            continue;
        };
        let expected = by_call.get(id.as_str()).cloned().unwrap_or_default();
        assert_eq!(answers, &expected, "call {id}");
    }
}
