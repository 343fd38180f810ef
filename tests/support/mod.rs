//! Helpers shared by the integration tests that run the examples and
//! real peers: building the examples once, and child processes that are
//! always killed.

#![allow(dead_code)]

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
