//! A real softphone calls the city's survey number: baresip (Debian's
//! `baresip-core`) dials `kuulo serve` on loopback, presses keys as a
//! resident would, speaks an open answer, and the results store must hold
//! exactly those answers.
//!
//! baresip is driven the way a test harness drives a phone: `ctrl_tcp`
//! (netstring-framed JSON) dials, switches the microphone and reports call
//! events; key presses go through the `cons` console, because baresip
//! 1.0.0 binds digits only to single keys, which `ctrl_tcp`'s long
//! commands cannot reach. A key is pressed and released (baresip's
//! `KEYCODE_REL`) as on a handset: baresip sends RFC 4733 telephone-events
//! for as long as a key is held, and the end of the event is what makes a
//! digit.
//!
//! The "microphone" is baresip's `aufile` source: silence while the
//! resident listens and presses keys, then a speech-like WAV for the open
//! question. No audio player is configured, so what kuulo says is decoded
//! and dropped.
//!
//! Every wait is bounded; a failure prints kuulo's log, baresip's log and
//! the `ctrl_tcp` transcript. baresip gets `-t` as a last resort, so it
//! quits on its own even if this process is killed before its guard runs.

mod support;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::serve::{pairs, query, try_query};
use support::{root, Proc};

/// The key baresip's UI layer takes as "the key went up": it ends the
/// RFC 4733 event that the key press started.
const KEYCODE_REL: u8 = 0x04;

fn script() -> PathBuf {
    root().join("tests/surveys/keys/survey.toml")
}

/// Fails the test, rather than skipping it, when baresip is missing: a
/// skipped interop test looks like a passing one in CI.
fn require_baresip() {
    if let Err(e) = Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        panic!(
            "baresip cannot be run ({e}): install it with `apt-get install -y baresip-core` \
             (.ci/run installs it; the `baresip` package pulls in GTK and is not needed)"
        );
    }
}

/// Ports found free, held bound until every one is chosen, so no two of
/// them can be the same port.
#[derive(Default)]
struct Reserved {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

impl Reserved {
    /// A free even UDP port whose odd neighbour is free too (RTP and RTCP).
    fn udp_pair(&mut self) -> u16 {
        for _ in 0..64 {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = a.local_addr().unwrap().port();
            if port % 2 == 0 && port < 65000 {
                if let Ok(b) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                    self.udp.extend([a, b]);
                    return port;
                }
            }
        }
        panic!("no free UDP port pair on 127.0.0.1");
    }

    /// A port free for both UDP and TCP: baresip listens on both for SIP
    /// and for its console.
    fn udp_tcp(&mut self) -> u16 {
        for _ in 0..64 {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = udp.local_addr().unwrap().port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
                self.udp.push(udp);
                self.tcp.push(tcp);
                return port;
            }
        }
        panic!("no port free for UDP and TCP on 127.0.0.1");
    }

    fn tcp(&mut self) -> u16 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        self.tcp.push(tcp);
        port
    }
}

/// Writes an 8 kHz mono 16-bit WAV, the only format baresip's `aufile`
/// source reads without a resampler.
fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

/// A voiced sound with syllables: a 140 Hz buzz with its harmonics (a
/// voice's pitch and overtones) under a 3 Hz envelope. Enough like speech
/// for an energy detector, and no espeak-ng needed on the caller's side.
fn speech_like(ms: u32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let envelope = (2.0 * std::f32::consts::PI * 3.0 * t).sin().max(0.0);
            let buzz: f32 = (1..8)
                .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32)
                .sum();
            (3000.0 * envelope * buzz) as i16
        })
        .collect()
}

/// baresip's `ctrl_tcp` connection: commands out, responses and call
/// events in, every message kept for failure reports.
struct Ctrl {
    stream: TcpStream,
    messages: Receiver<Value>,
    /// Messages a wait passed over, for the waits after it: an event can
    /// arrive before the response to the command that caused it.
    backlog: VecDeque<Value>,
    transcript: Arc<Mutex<Vec<String>>>,
    next_token: u32,
}

impl Ctrl {
    /// Connects, retrying while baresip is still starting up.
    fn connect(port: u16, limit: Duration) -> Result<Ctrl, String> {
        let start = Instant::now();
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > limit => {
                    return Err(format!("ctrl_tcp on port {port} not reachable: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let (tx, messages) = mpsc::channel();
        let reader = stream.try_clone().unwrap();
        let log = Arc::clone(&transcript);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            while let Some(text) = read_netstring(&mut reader) {
                log.lock().unwrap().push(format!("<- {text}"));
                match serde_json::from_str::<Value>(&text) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(e) => log.lock().unwrap().push(format!("(not JSON: {e})")),
                }
            }
        });
        Ok(Ctrl {
            stream,
            messages,
            backlog: VecDeque::new(),
            transcript,
            next_token: 0,
        })
    }

    /// Sends a long command (`dial`, `ausrc`, `hangup`, ...) and waits for
    /// its response; events that arrive meanwhile stay in the backlog.
    fn command(&mut self, command: &str, params: &str) -> Result<String, String> {
        self.next_token += 1;
        let token = format!("t{}", self.next_token);
        let body =
            serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        self.transcript.lock().unwrap().push(format!("-> {body}"));
        let framed = format!("{}:{},", body.len(), body);
        self.stream
            .write_all(framed.as_bytes())
            .map_err(|e| format!("writing to ctrl_tcp: {e}"))?;
        let reply = self.wait_for(
            &format!("a response to `{command}`"),
            Duration::from_secs(5),
            |v| v["response"] == true && v["token"] == token.as_str(),
        )?;
        if reply["ok"] == true {
            Ok(reply["data"].as_str().unwrap_or_default().to_string())
        } else {
            Err(format!("baresip refused `{command} {params}`: {reply}"))
        }
    }

    /// Waits for a call event of `kind` (e.g. `CALL_ESTABLISHED`); a
    /// `CALL_CLOSED` while waiting for anything else is a failure.
    fn wait_event(&mut self, kind: &str, limit: Duration) -> Result<Value, String> {
        let mut closed = None;
        let found = self.wait_for(&format!("the {kind} event"), limit, |v| {
            if v["type"] == "CALL_CLOSED" && kind != "CALL_CLOSED" {
                closed = Some(v.clone());
                return true;
            }
            v["type"] == kind
        })?;
        match closed {
            Some(v) => Err(format!("the call closed while waiting for {kind}: {v}")),
            None => Ok(found),
        }
    }

    fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> Result<Value, String> {
        if let Some(i) = self.backlog.iter().position(&mut wanted) {
            return Ok(self.backlog.remove(i).unwrap());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(v) if wanted(&v) => return Ok(v),
                Ok(v) => self.backlog.push_back(v),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no {what} from baresip within {limit:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "baresip closed ctrl_tcp while we waited for {what}"
                    ))
                }
            }
        }
    }

    fn transcript(&self) -> String {
        self.transcript.lock().unwrap().join("\n")
    }
}

/// Reads one netstring (`<len>:<bytes>,`), or `None` at end of stream or
/// on a framing error (which the transcript then ends with).
fn read_netstring(r: &mut impl BufRead) -> Option<String> {
    let mut len = Vec::new();
    r.read_until(b':', &mut len).ok()?;
    len.pop().filter(|&c| c == b':')?;
    let len: usize = std::str::from_utf8(&len).ok()?.trim().parse().ok()?;
    let mut body = vec![0; len + 1];
    r.read_exact(&mut body).ok()?;
    (body.pop() == Some(b',')).then(|| String::from_utf8_lossy(&body).into_owned())
}

/// One resident's phone: a baresip process with its config folder, its
/// control connection and its keypad.
struct Softphone {
    proc: Proc,
    ctrl: Ctrl,
    keypad: UdpSocket,
    cons: SocketAddr,
    log: PathBuf,
}

impl Softphone {
    /// Writes the config into `dir/baresip` and starts baresip on it.
    fn start(dir: &Path) -> Result<Softphone, String> {
        let conf = dir.join("baresip");
        std::fs::create_dir_all(&conf).unwrap();
        let mut ports = Reserved::default();
        let sip = ports.udp_tcp();
        let rtp = ports.udp_pair();
        let ctrl = ports.tcp();
        let cons = ports.udp_tcp();
        // Longer than any call here: aufile ends the call when its file
        // ends.
        write_wav(&conf.join("silence.wav"), &vec![0; 8000 * 120]);
        // The voice starts 2.5 s after the switch, once "Speak after the
        // tone." and its beep are over.
        let mut voice = vec![0; 8000 * 5 / 2];
        voice.extend(speech_like(5000));
        voice.extend(std::iter::repeat_n(0, 8000 * 60));
        write_wav(&conf.join("voice.wav"), &voice);
        let config = format!(
            "module_path /usr/lib/baresip/modules\n\
             poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             net_interface 127.0.0.1\n\
             dns_server 127.0.0.1:53\n\
             call_local_timeout 30\n\
             call_max_calls 1\n\
             audio_source aufile,{silence}\n\
             rtp_ports {rtp}-{rtp_end}\n\
             rtcp_mux no\n\
             jitter_buffer_delay 1-10\n\
             module opus.so\n\
             module g711.so\n\
             module aufile.so\n\
             module cons.so\n\
             module_tmp account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\n\
             cons_listen 127.0.0.1:{cons}\n\
             statmode_default off\n\
             ringback_disabled yes\n",
            silence = conf.join("silence.wav").display(),
            rtp_end = rtp + 1,
        );
        std::fs::write(conf.join("config"), config).unwrap();
        // A local account: no registrar, so never REGISTER. Codecs as a
        // default install offers them: Opus first, then G.711, with
        // telephone-event/8000.
        std::fs::write(conf.join("accounts"), "<sip:resident@127.0.0.1>;regint=0\n").unwrap();
        let log = dir.join("baresip.log");
        let out = std::fs::File::create(&log).unwrap();
        drop(ports);
        // A log file, not a pipe: nobody reads baresip's output while the
        // call runs, and a full pipe would stall it.
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&conf)
            .args(["-v", "-s", "-t", "90"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("spawning baresip: {e}"))?;
        let proc = Proc(Some(child));
        let ctrl = Ctrl::connect(ctrl, Duration::from_secs(10))?;
        let keypad = UdpSocket::bind("127.0.0.1:0").unwrap();
        Ok(Softphone {
            proc,
            ctrl,
            keypad,
            cons: SocketAddr::from(([127, 0, 0, 1], cons)),
            log,
        })
    }

    /// Presses `key` for 120 ms, as a thumb does.
    fn press(&mut self, key: char) -> Result<(), String> {
        let send = |b: &[u8]| {
            self.keypad
                .send_to(b, self.cons)
                .map_err(|e| format!("sending key {key:?} to baresip's console: {e}"))
        };
        self.ctrl
            .transcript
            .lock()
            .unwrap()
            .push(format!("(key {key} pressed)"));
        send(key.to_string().as_bytes())?;
        std::thread::sleep(Duration::from_millis(120));
        send(&[KEYCODE_REL])?;
        Ok(())
    }

    /// Stops baresip by its PID: SIGTERM for a clean exit, and the guard's
    /// SIGKILL if it has not exited within 5 s.
    fn stop(mut self) {
        let child = self.proc.0.as_mut().unwrap();
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a PID we spawned and have not reaped yet, so
        // it cannot name another process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of baresip's log: enough for the SIP trace of one call.
    fn log(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 400)
    }
}

/// The last `n` lines of `text`, with terminal colour codes removed.
fn tail(text: &str, n: usize) -> String {
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    let lines: Vec<&str> = clean.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `kuulo serve` for one call, with debug logs (each key and its source).
struct Server {
    proc: Proc,
    port: u16,
    log: PathBuf,
    db: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = Reserved::default().udp_pair();
        Server {
            proc: support::serve::serve(&script(), dir, port, 90, "kuulo=debug"),
            port,
            log: dir.join("serve.log"),
            db: dir.join("results.sqlite"),
        }
    }

    fn log(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 200)
    }

    /// The stored answers so far, in the order they were given.
    fn answers(&self) -> Vec<(String, String)> {
        try_query(
            &self.db,
            "SELECT question, value FROM answers ORDER BY answered_at",
        )
        .unwrap_or_default()
    }
}

/// A call in progress between the two, with everything a failure report
/// needs.
struct Call {
    dir: tempfile::TempDir,
    server: Server,
    phone: Softphone,
    /// Held for the whole call (dropped last, after both processes):
    /// the tests choose free ports by binding and letting go, so two
    /// calls set up at once could each be handed a port the other's
    /// process is about to bind. baresip then quit at the dial (seen once
    /// in CI with both tests running in parallel).
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// Serialises the calls of this file; see [`Call`].
static ONE_CALL_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Call {
    /// Starts both and dials; returns once the call is established.
    fn dial() -> Call {
        require_baresip();
        // A test that failed while holding it leaves it poisoned; the
        // next test is still valid.
        let one_at_a_time = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path());
        let phone = match Softphone::start(dir.path()) {
            Ok(p) => p,
            Err(e) => panic!(
                "{e}\nbaresip log:\n{}",
                tail(
                    &std::fs::read_to_string(dir.path().join("baresip.log")).unwrap_or_default(),
                    200
                )
            ),
        };
        let mut call = Call {
            dir,
            server,
            phone,
            _one_at_a_time: one_at_a_time,
        };
        let uri = format!("sip:survey@127.0.0.1:{}", call.server.port);
        let dialled = call.phone.ctrl.command("dial", &uri);
        call.check(dialled);
        let established = call
            .phone
            .ctrl
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
        call.check(established);
        call
    }

    /// Unwraps `r`, or fails with both sides' logs.
    fn check<T>(&self, r: Result<T, String>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => panic!("{e}\n{}", self.report()),
        }
    }

    fn report(&self) -> String {
        format!(
            "--- kuulo serve log:\n{}\n--- baresip log:\n{}\n--- ctrl_tcp transcript:\n{}\n--- answers stored: {:?}",
            self.server.log(),
            self.phone.log(),
            self.phone.ctrl.transcript(),
            self.server.answers(),
        )
    }

    /// Waits until `question` has a stored answer.
    fn wait_answer(&self, question: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.server.answers().iter().any(|(q, _)| q == question) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no answer to `{question}` stored within {limit:?}\n{}",
            self.report()
        );
    }

    fn press(&mut self, key: char) {
        let pressed = self.phone.press(key);
        self.check(pressed);
    }

    /// Stops baresip, waits for `kuulo serve` to exit after its one call,
    /// and returns serve's summary line, its whole log (to see how the
    /// keys arrived) and the folder holding the results store.
    fn finish(self) -> (String, String, tempfile::TempDir) {
        let report = self.report();
        self.phone.stop();
        let out = self
            .server
            .proc
            .wait("kuulo serve", Duration::from_secs(20));
        assert!(
            out.status.success(),
            "kuulo serve failed ({:?})\n{report}",
            out.status
        );
        let summary = String::from_utf8_lossy(&out.stdout).into_owned();
        let log = std::fs::read_to_string(&self.server.log).unwrap_or_default();
        (summary, tail(&log, usize::MAX), self.dir)
    }
}

/// The keys kuulo took as RFC 4733 telephone-events, in order (its debug
/// log names each key's source).
fn rfc4733_keys(serve_log: &str) -> Vec<String> {
    serve_log
        .lines()
        .filter(|l| l.contains("source=Rfc4733"))
        .filter_map(|l| l.split("digit=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_softphone_answers_the_survey_with_keys_and_voice() {
    let mut call = Call::dial();
    // "Hello." then "Press 1 to take part.": press while the question is
    // asked (barge-in) or just after it, both inside its input window.
    std::thread::sleep(Duration::from_millis(2500));
    call.press('1');
    call.wait_answer("consent", Duration::from_secs(8));
    // "Would you visit again?" (1 yes, 2 no)
    std::thread::sleep(Duration::from_millis(1500));
    call.press('2');
    call.wait_answer("again", Duration::from_secs(8));
    // "Rate us from 1 to 5."
    std::thread::sleep(Duration::from_millis(1500));
    call.press('4');
    call.wait_answer("rating", Duration::from_secs(8));
    // "Speak after the tone.": the resident answers in 5 s of speech.
    let voice = call.dir.path().join("baresip/voice.wav");
    let switched = call
        .phone
        .ctrl
        .command("ausrc", &format!("aufile,{}", voice.display()));
    call.check(switched);
    call.wait_answer("comment", Duration::from_secs(20));
    // "Thank you." and kuulo hangs up.
    let closed = call
        .phone
        .ctrl
        .wait_event("CALL_CLOSED", Duration::from_secs(10));
    call.check(closed);

    let (summary, serve_log, dir) = call.finish();
    assert!(summary.contains("calls=1 "), "{summary}");
    assert!(summary.contains("completed=1"), "{summary}");
    assert!(summary.contains("recordings=1"), "{summary}");
    let db = dir.path().join("results.sqlite");
    assert_eq!(
        query(
            &db,
            "SELECT question, value FROM answers ORDER BY answered_at"
        ),
        pairs(&[
            ("consent", "yes"),
            ("again", "no"),
            ("rating", "4"),
            ("comment", "recorded"),
        ])
    );
    assert_eq!(
        query(&db, "SELECT disposition, language FROM calls"),
        pairs(&[("completed", "en")])
    );
    // baresip sends its keys as RFC 4733 telephone-events (three end
    // packets each), not in-band or as SIP INFO: each must count once.
    assert_eq!(rfc4733_keys(&serve_log), ["1", "2", "4"], "{serve_log}");
    let recs = query(
        &db,
        "SELECT r.path, c.id FROM recordings r JOIN calls c ON c.id = r.call_id",
    );
    assert_eq!(recs.len(), 1, "{recs:?}");
    let (path, call_id) = &recs[0];
    assert_eq!(path, &format!("{call_id}-comment.wav"));
    let wav = hound::WavReader::open(dir.path().join("recordings").join(path)).unwrap();
    assert_eq!(wav.spec().sample_rate, 8000);
    let secs = wav.duration() as f64 / 8000.0;
    // The whole answer, not a clipped one: speech began after the beep.
    assert!((4.0..=10.0).contains(&secs), "recording of {secs} s");
}

#[test]
fn a_softphone_hanging_up_midway_leaves_a_partial_survey() {
    let mut call = Call::dial();
    std::thread::sleep(Duration::from_millis(2500));
    call.press('1');
    call.wait_answer("consent", Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(1500));
    call.press('1');
    call.wait_answer("again", Duration::from_secs(8));
    // The resident hangs up during "Rate us from 1 to 5.": baresip's BYE.
    let hung_up = call.phone.ctrl.command("hangup", "");
    call.check(hung_up);
    let closed = call
        .phone
        .ctrl
        .wait_event("CALL_CLOSED", Duration::from_secs(10));
    call.check(closed);

    let (summary, _, dir) = call.finish();
    assert!(summary.contains("partial=1"), "{summary}");
    let db = dir.path().join("results.sqlite");
    assert_eq!(
        query(
            &db,
            "SELECT question, value FROM answers ORDER BY answered_at"
        ),
        pairs(&[("consent", "yes"), ("again", "yes")])
    );
    assert_eq!(
        query(&db, "SELECT disposition, language FROM calls"),
        pairs(&[("partial", "en")])
    );
}
