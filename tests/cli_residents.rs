//! `kuulo residents` as its own process: the survey engine calls it over
//! loopback, SIGTERM stops it, and its JSON summary must tell the same
//! story as the engine (one call, answered, the same answers).

mod support;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::campaign::Store;
use kuulo::engine::driver::{run, Bounds};
use kuulo::engine::store::{campaign_for, StoreApplier, StoreWorker};
use kuulo::engine::EngineEvent;
use kuulo::ivr::SurveyScript;
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use support::{dialling_engine, root, Proc};

fn script_path() -> std::path::PathBuf {
    root().join("tests/surveys/keys/survey.toml")
}

/// Fixed ports below the kernel's ephemeral range, so no port-0 socket of a
/// parallel test can take them; spread by process id across runs.
fn ports() -> (u16, u16) {
    let base = 17_000 + (std::process::id() % 25) as u16 * 100;
    (base, base + 10)
}

/// Starts `kuulo residents` with `extra` arguments and waits until it says
/// it is answering.
fn start(sip_port: u16, rtp_base: u16, extra: &[&str]) -> Proc {
    let mut proc = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_kuulo"))
            .arg("residents")
            .args(["--bind", &format!("127.0.0.1:{sip_port}")])
            .args(["--rtp-base", &rtp_base.to_string(), "--count", "4"])
            .arg("--script")
            .arg(script_path())
            .args(extra),
    );
    let stderr = proc.0.as_mut().unwrap().stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().expect("a line on stderr").unwrap();
    assert!(first.contains("answering on"), "{first}");
    // Keep draining stderr so a chatty log can never block the process.
    std::thread::spawn(move || for _ in lines {});
    proc
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    serde_json::from_str(lines[0]).expect("a JSON summary")
}

#[test]
fn residents_answer_a_call_and_report_it_when_terminated() {
    let (sip_port, rtp_base) = ports();
    let residents = start(
        sip_port,
        rtp_base,
        &[
            "--fast",
            "--seed",
            "3",
            "--busy",
            "0",
            "--no-answer",
            "0",
            "--decline",
            "0",
            "--hang-up",
            "0",
            "--wrong-key",
            "0",
        ],
    );
    let script = Arc::new(SurveyScript::load(script_path()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("results.sqlite")).unwrap();
    let campaign = campaign_for(&mut store, &script.id, &script.title).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut ended = Vec::new();
    rt.block_on(async {
        let (mut engine, sockets) = dialling_engine(&script).await;
        let worker =
            StoreWorker::spawn(StoreApplier::new(store, campaign, dir.path().join("rec"))).unwrap();
        let target = Uri::parse(&format!("sip:resident@127.0.0.1:{sip_port}")).unwrap();
        let trunk = Peer::udp(([127, 0, 0, 1], sip_port).into());
        engine.place_call(Instant::now(), target, trunk).unwrap();
        let bounds = Bounds {
            max_calls: Some(1),
            until: Some(Instant::now() + Duration::from_secs(40)),
        };
        run(
            &mut engine,
            &sockets,
            &worker,
            bounds,
            std::future::pending(),
            |ev| {
                if let EngineEvent::CallEnded {
                    disposition,
                    answers,
                    ..
                } = ev
                {
                    let answers: Vec<(String, String)> = answers
                        .iter()
                        .map(|(q, v)| (q.to_string(), v.as_text().into_owned()))
                        .collect();
                    ended.push((disposition.to_string(), answers));
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(worker.finish().errors, 0);
    });
    eprintln!("the call took {:?}", started.elapsed());
    assert_eq!(ended.len(), 1, "{ended:?}");
    let (disposition, answers) = &ended[0];
    assert_eq!(disposition, "completed", "{answers:?}");

    let pid = residents.0.as_ref().unwrap().id();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = residents.wait("kuulo residents", Duration::from_secs(10));
    assert!(out.status.success(), "{out:?}");
    let json = summary(&out);
    eprintln!("residents said: {json}");
    assert_eq!(json["calls"], 1, "{json}");
    assert_eq!(json["answered"], 1, "{json}");
    assert_eq!(json["busy"], 0, "{json}");
    let given: Vec<(String, String)> = json["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["question"].as_str().unwrap().to_string(),
                a["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // What the residents meant to answer is what the engine heard (the
    // engine also lists questions left unanswered, which residents do not).
    let heard: Vec<(String, String)> = answers
        .iter()
        .filter(|(q, _)| given.iter().any(|(g, _)| g == q))
        .cloned()
        .collect();
    assert!(!given.is_empty(), "{json}");
    assert_eq!(given, heard, "{json}");
}

#[test]
fn residents_stop_after_their_duration_with_an_empty_summary() {
    let (sip_port, rtp_base) = ports();
    // Another port pair than the other test's, which may run at once.
    let residents = start(sip_port + 50, rtp_base + 50, &["--duration", "0.5"]);
    let out = residents.wait("kuulo residents", Duration::from_secs(10));
    assert!(out.status.success(), "{out:?}");
    let json = summary(&out);
    assert_eq!(json["calls"], 0, "{json}");
    assert_eq!(json["answers"], serde_json::json!([]), "{json}");
}

#[test]
fn residents_refuse_shares_above_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_kuulo"))
        .args([
            "residents",
            "--busy",
            "0.7",
            "--no-answer",
            "0.5",
            "--script",
        ])
        .arg(script_path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--busy and --no-answer"), "{stderr}");
    assert!(out.stdout.is_empty());
}
