//! `kuulo serve` under test: started for one call with a shared speech
//! cache, its results store read back.

use super::{root, Proc};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Where the tests keep synthesised prompts, so only the first run of a
/// text prompt pays for espeak-ng.
pub fn tts_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("test-tts-cache")
}

/// Ports handed out so far in this test binary, above [`FIRST_PORT`].
static HANDED_OUT: AtomicU16 = AtomicU16::new(0);
/// Test ports come from here up to the kernel's ephemeral range (32768
/// up), where nothing binding port 0 can take them.
const FIRST_PORT: u16 = 24_000;
const LAST_PORT: u16 = 32_000;

/// A free even UDP port with the three above it free too (RTP and RTCP,
/// a SIP port, or sipp's media ports, which step by four): a port this
/// test binary never handed out before. Finding ports by binding port 0
/// and letting go raced between tests running side by side: one could be
/// handed a port another's child process was about to bind.
pub fn free_port_pair() -> u16 {
    free_port_block(4)
}

/// `len` consecutive free UDP ports from an even one, never handed out
/// before by this test binary (see [`free_port_pair`]).
pub fn free_port_block(len: u16) -> u16 {
    let len = len.max(2).next_multiple_of(2);
    loop {
        let start = FIRST_PORT + HANDED_OUT.fetch_add(len, Ordering::SeqCst);
        assert!(
            start <= LAST_PORT - len,
            "this test binary used up ports {FIRST_PORT}-{LAST_PORT}"
        );
        // Another program may hold some: skip the block if so.
        if (start..start + len).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok()) {
            return start;
        }
    }
}

/// Starts `kuulo serve` with `script` for one call (the store and its
/// log, `serve.log`, in `dir`), logging at `rust_log`, ending by itself
/// after `run_secs`; waits until it listens (the first run synthesises the
/// prompts, which takes a few seconds).
pub fn serve(script: &Path, dir: &Path, sip_port: u16, run_secs: u32, rust_log: &str) -> Proc {
    serve_with(
        script,
        dir,
        sip_port,
        run_secs,
        rust_log,
        &["--max-calls", "1"],
    )
}

/// [`serve`] with other arguments than `--max-calls 1`.
pub fn serve_with(
    script: &Path,
    dir: &Path,
    sip_port: u16,
    run_secs: u32,
    rust_log: &str,
    extra: &[&str],
) -> Proc {
    let log = dir.join("serve.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kuulo"));
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{sip_port}")])
        .arg("--script")
        .arg(script)
        .arg("--db")
        .arg(dir.join("results.sqlite"))
        .arg("--tts-cache")
        .arg(tts_cache())
        .args(extra)
        .args(["--run-secs", &run_secs.to_string()])
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let child = Proc(Some(cmd.spawn().expect("spawn kuulo serve")));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("kuulo serve: survey") {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "kuulo serve did not start within 60 s:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// Rows of two text columns (a NULL second column reads as "").
pub fn query(db: &Path, sql: &str) -> Vec<(String, String)> {
    try_query(db, sql).unwrap()
}

/// [`query`] that may fail: for polling a store another process is
/// still creating or writing (WAL mode lets a reader in meanwhile).
pub fn try_query(db: &Path, sql: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        ))
    })?;
    rows.collect()
}

/// `(question, answer)` pairs as [`query`] returns them.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The A-law payload of sipp's bundled `g711a.pcap`: seven seconds of a
/// person speaking, for tests that need a caller's voice.
pub fn sipp_alaw_speech() -> Vec<u8> {
    let src = std::fs::read("/usr/share/sip-tester/g711a.pcap")
        .expect("sipp's g711a.pcap (apt-get install sip-tester)");
    // Classic pcap: 24-byte header, then 16-byte record headers; each
    // packet Ethernet, IPv4 without options, UDP, RTP without extensions.
    let mut alaw = Vec::new();
    let mut at = 24;
    while at + 16 <= src.len() {
        let len = u32::from_le_bytes(src[at + 8..at + 12].try_into().unwrap()) as usize;
        let packet = &src[at + 16..(at + 16 + len).min(src.len())];
        alaw.extend_from_slice(&packet[(14 + 20 + 8 + 12).min(packet.len())..]);
        at += 16 + len;
    }
    assert!(
        alaw.len() > 8000 * 5,
        "g711a.pcap holds {} bytes",
        alaw.len()
    );
    alaw
}
