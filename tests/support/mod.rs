//! Helpers shared by the integration tests that run the examples and
//! real peers: building the examples once, and child processes that are
//! always killed.

#![allow(dead_code)]

pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The release build of an example, built once per test run.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--release", "--examples"])
            .status()
            .expect("run cargo to build the examples");
        assert!(status.success(), "building the examples failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("release").join("examples").join(name)
}

pub fn sipp_available() -> bool {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "sipp is not installed: `apt-get install -y sip-tester` (.ci/run does it)"
    );
    found
}

/// A child process killed when the guard drops.
pub struct Proc(pub Option<Child>);

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc(Some(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn process"),
        ))
    }

    /// Waits for exit within `limit`, else kills it and panics naming
    /// `what`.
    pub fn wait(mut self, what: &str, limit: Duration) -> Output {
        let mut child = self.0.take().unwrap();
        let start = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{what} did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// 8 kHz samples of a sine: stands in for spoken prompts (no espeak-ng
/// needed) and for a resident's voice.
pub fn tone(ms: u32, hz: f32, amplitude: f32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

/// A finished call as the engine reported it: handle, disposition and its
/// (question, answer) pairs.
pub type Ended = (
    kuulo::sip::ua::CallHandle,
    kuulo::engine::Disposition,
    Vec<(String, String)>,
);

/// Simulated residents answering on loopback, on a thread and runtime of
/// their own (as a separate process would), until [`Residents::stop`].
pub struct Residents {
    /// Their SIP address.
    pub sip: std::net::SocketAddr,
    thread: kuulo::sim::driver::PopulationThread,
}

impl Residents {
    /// Starts 40 residents' worth of ports from `rtp_base` answering
    /// `script`, with quick answers and every persona represented.
    pub fn start(script: std::sync::Arc<kuulo::ivr::SurveyScript>, rtp_base: u16) -> Residents {
        use kuulo::media::prompt::EncodedPrompt;
        use kuulo::media::sdp::AudioCodec;
        use kuulo::sim::{PopulationConfig, Shares};
        let configure = |cfg: &mut PopulationConfig| {
            cfg.seed = 7;
            cfg.answer_delay = (Duration::from_millis(200), Duration::from_secs(1));
            cfg.think_time = (Duration::from_millis(100), Duration::from_millis(400));
            cfg.shares = Shares {
                busy: 0.1,
                no_answer: 0.1,
                decline: 0.1,
                hang_up_midway: 0.1,
                wrong_key: 0.2,
                barge_in: 0.0,
            };
        };
        let voice =
            EncodedPrompt::from_samples(&tone(1200, 440.0, 8000.0), AudioCodec::Pcmu).unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        let thread = kuulo::sim::driver::spawn(
            ip,
            rtp_base,
            40,
            configure,
            script,
            std::sync::Arc::new(voice),
        )
        .expect("bind the residents' ports");
        Residents {
            sip: thread.sip,
            thread,
        }
    }

    /// Stops them; what they answered, and their counters.
    pub fn stop(self) -> (Vec<kuulo::sim::GivenAnswer>, kuulo::sim::PopulationStats) {
        let (stats, answers) = self.thread.stop().expect("the residents ran");
        (answers, stats)
    }
}

/// An outbound survey engine on loopback whose prompts are short tones,
/// sending nothing between prompts so simulated residents hear where each
/// ends. Call inside a tokio runtime.
pub async fn dialling_engine(
    script: &std::sync::Arc<kuulo::ivr::SurveyScript>,
) -> (
    kuulo::engine::SurveyEngine,
    kuulo::engine::driver::EngineSockets,
) {
    use kuulo::engine::{EngineConfig, LibraryError, PromptLibrary, SurveyEngine};
    let sockets = kuulo::engine::driver::EngineSockets::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let prompts = PromptLibrary::build(script, |_, _, _| {
        Ok::<_, LibraryError>(tone(300, 600.0, 6000.0))
    })
    .unwrap();
    let mut config = EngineConfig::new(sockets.sip_addr().unwrap(), sockets.rtp_addr().unwrap());
    config.accept_incoming = false;
    config.media_idle = kuulo::media::session::IdleMode::Nothing;
    let engine = SurveyEngine::new(
        config,
        std::sync::Arc::clone(script),
        std::sync::Arc::new(prompts),
    );
    (engine, sockets)
}
