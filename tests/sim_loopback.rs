//! The survey engine dialling simulated residents over real loopback
//! sockets, each side with its own tokio driver: the shape of `kuulo demo`
//! and of the load benchmark's smoke run. Every call must end, and every
//! answer a resident gave must be the answer the engine reported.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::campaign::Store;
use kuulo::engine::driver::{run_app, Bounds, EngineApp};
use kuulo::engine::store::{campaign_for, StoreApplier, StoreWorker};
use kuulo::engine::{Disposition, EngineEvent, SurveyEngine};
use kuulo::ivr::SurveyScript;
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use kuulo::sip::ua::CallHandle;
use support::{dialling_engine, Ended, Residents};

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

    // The residents, on their own thread and runtime, on fixed ports below
    // the kernel's ephemeral range (32768 up) so no port-0 socket takes them.
    let residents = Residents::start(
        Arc::clone(&script),
        20_000 + (std::process::id() % 25) as u16 * 200,
    );
    let pop_sip = residents.sip;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let total = 20;
    let dialler = rt.block_on(async {
        let (mut engine, sockets) = dialling_engine(&script).await;
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
    let (given, stats) = residents.stop();

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
