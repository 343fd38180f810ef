//! The media path at scale: one survey engine shard dials `--calls`
//! simulated callees over loopback, holds them all with media both ways,
//! and reports what the shard costs and how evenly it keeps its 20 ms
//! clock.
//!
//! ```text
//! cargo build --release --example media_scale
//! target/release/examples/media_scale --calls 2000 --hold-secs 10
//! ```
//!
//! The callee side runs as a child process of this example (`--sink`), so
//! the engine's CPU and RSS are its own: a SIP user agent answering every
//! INVITE, and per call an RTP port whose task reflects each packet back
//! (with its own SSRC) and records when it arrived. The receiver's view
//! of the send clock is the arrival-time delta of consecutive packets of
//! a stream minus 20 ms; it includes the loopback path and the sink's own
//! scheduling, so it bounds the engine's jitter from above.
//!
//! The engine plays one long prompt per call, so calls stay up and send
//! audio for the whole run. Calls are placed at `--rate` per second; the
//! measurement window opens `--settle-secs` after the last call is placed
//! and lasts `--hold-secs`. Both processes read the window from the wall
//! clock, so no further coordination is needed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use kuulo::campaign::Store;
use kuulo::engine::driver::{run_app, Bounds, EngineApp, EngineSockets};
use kuulo::engine::store::{campaign_for, StoreApplier, StoreWorker};
use kuulo::engine::{
    EngineConfig, EngineEvent, LibraryError, PromptLibrary, ShardMediaStats, SurveyEngine,
};
use kuulo::ivr::SurveyScript;
use kuulo::media::sdp::{self, MediaConfig, SessionDescription};
use kuulo::media::session::IdleMode;
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use kuulo::sip::ua::{UaConfig, UaEvent, UserAgent};
use tokio::net::UdpSocket;

#[derive(Parser, Debug, Clone)]
#[command(about = "Hold many survey calls with media over loopback and measure the shard")]
struct Args {
    /// Concurrent calls to hold.
    #[arg(long, default_value_t = 1000)]
    calls: u32,
    /// Seconds of measurement once every call is up.
    #[arg(long, default_value_t = 10.0)]
    hold_secs: f64,
    /// Calls placed per second while ramping up.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds between the last call placed and the window.
    #[arg(long, default_value_t = 3.0)]
    settle_secs: f64,
    /// First RTP port of the callees (two ports per call, skipping those
    /// in use); below the kernel's ephemeral range (32768 up), so no
    /// port-0 socket takes one meanwhile.
    #[arg(long, default_value_t = 12000)]
    rtp_base: u16,
    /// Run the engine's thread under SCHED_FIFO (needs root), as
    /// `kuulo bench --realtime` does.
    #[arg(long)]
    realtime: bool,
    /// Give each call its own RTP/RTCP port pair from this port up (as
    /// `kuulo serve --rtp-ports`), instead of one pair for all calls.
    #[arg(long, value_name = "FIRST_PORT")]
    rtp_pool_from: Option<u16>,
    /// Run as the callee side (started by the engine side).
    #[arg(long, hide = true)]
    sink: bool,
    /// Window start, Unix milliseconds (sink only).
    #[arg(long, hide = true, default_value_t = 0)]
    window_start_ms: u64,
    /// Window end, Unix milliseconds (sink only).
    #[arg(long, hide = true, default_value_t = 0)]
    window_end_ms: u64,
}

fn main() {
    let args = Args::parse();
    if args.sink {
        sink_main(&args);
    } else {
        engine_main(&args);
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `Instant` at Unix time `ms`, on this process's clock.
fn instant_at(ms: u64) -> Instant {
    let now_ms = unix_ms();
    let now = Instant::now();
    if ms >= now_ms {
        now + Duration::from_millis(ms - now_ms)
    } else {
        now - Duration::from_millis(now_ms - ms)
    }
}

/// User plus system CPU time of the calling thread (`self_thread`) or the
/// whole process, from procfs.
fn cpu_time(self_thread: bool) -> Duration {
    let path = if self_thread {
        "/proc/thread-self/stat"
    } else {
        "/proc/self/stat"
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may
    // contain spaces: utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 are at 11 and 12 once pid, comm and state are gone.
    let total = ticks(11) + ticks(12);
    // USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(total * 10)
}

/// Resident set size in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- engine

/// What the engine side saw at one edge of the window.
#[derive(Debug, Clone, Copy)]
struct Mark {
    at: Instant,
    thread_cpu: Duration,
    rss_kib: u64,
    calls: usize,
    media: ShardMediaStats,
}

impl Mark {
    fn take(engine: &SurveyEngine, at: Instant) -> Mark {
        Mark {
            at,
            thread_cpu: cpu_time(true),
            rss_kib: rss_kib(),
            calls: engine.call_count(),
            media: engine.media_stats(),
        }
    }
}

struct Scale {
    target: Uri,
    destination: Peer,
    total: u32,
    placed: u32,
    start: Instant,
    interval: Duration,
    window: (Instant, Instant),
    started: u64,
    ended: u64,
    refused: u64,
    baseline_rss: u64,
    marks: Vec<Mark>,
}

impl EngineApp for Scale {
    fn on_event(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::CallStarted { .. } => self.started += 1,
            EngineEvent::CallEnded { .. } => self.ended += 1,
        }
    }

    fn on_tick(&mut self, engine: &mut SurveyEngine, now: Instant) {
        while self.placed < self.total && now >= self.start + self.interval * self.placed {
            if engine
                .place_call(now, self.target.clone(), self.destination)
                .is_err()
            {
                self.refused += 1;
            }
            self.placed += 1;
        }
        let edge = [self.window.0, self.window.1][self.marks.len().min(1)];
        if self.marks.len() < 2 && now >= edge {
            self.marks.push(Mark::take(engine, now));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let next_call =
            (self.placed < self.total).then(|| self.start + self.interval * self.placed);
        let edge = match self.marks.len() {
            0 => Some(self.window.0),
            1 => Some(self.window.1),
            _ => None,
        };
        [next_call, edge].into_iter().flatten().min()
    }
}

/// An engine test survey whose intro prompt lasts the whole run.
const SURVEY: &str = r#"
[survey]
id = "media-scale"
title = "Media scale benchmark"
caller = "City of Testville"
purpose = "to measure the media path"
languages = ["en"]

[[step]]
id = "intro"
type = "play"
prompt = "intro"

[[step]]
id = "thanks"
type = "end"
prompt = "thanks"

[prompts]
intro = { en = "A very long introduction." }
thanks = { en = "Thank you." }
"#;

fn engine_main(args: &Args) {
    // Before anything else runs, so the figure is the machine's alone.
    let raw_udp = kuulo::engine::raw_udp_rate(Duration::from_secs(1)).expect("raw UDP rate");
    let ramp = Duration::from_secs_f64(f64::from(args.calls) / args.rate);
    let start_ms = unix_ms() + 1500;
    let window_start_ms = start_ms + ramp.as_millis() as u64 + (args.settle_secs * 1000.0) as u64;
    let window_end_ms = window_start_ms + (args.hold_secs * 1000.0) as u64;

    let exe = std::env::current_exe().expect("own path");
    let mut sink = Command::new(exe)
        .args([
            "--sink",
            "--calls",
            &args.calls.to_string(),
            "--rtp-base",
            &args.rtp_base.to_string(),
            "--window-start-ms",
            &window_start_ms.to_string(),
            "--window-end-ms",
            &window_end_ms.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the sink");
    let mut sink_out = BufReader::new(sink.stdout.take().unwrap());
    let mut line = String::new();
    sink_out.read_line(&mut line).expect("sink address");
    let sink_sip: SocketAddr = line
        .trim()
        .strip_prefix("SIP ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("sink said {line:?}"));

    let script = Arc::new(
        SurveyScript::from_toml(SURVEY, Path::new("media-scale.toml")).expect("survey parses"),
    );
    let run_secs = ramp.as_secs_f64() + args.settle_secs + args.hold_secs + 30.0;
    let dir = std::env::temp_dir().join(format!("kuulo-media-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (scale, summary) = rt.block_on(async {
        let sip = "127.0.0.1:0".parse().unwrap();
        let sockets = match args.rtp_pool_from {
            // A margin of pairs, as ended calls' pairs rest a while.
            Some(first) => {
                let last = first.saturating_add((args.calls as u16).saturating_mul(2) + 255);
                EngineSockets::bind_pool(sip, "127.0.0.1".parse().unwrap(), first, last).await
            }
            None => EngineSockets::bind(sip, "127.0.0.1:0".parse().unwrap()).await,
        }
        .unwrap();
        let prompts = PromptLibrary::build(&script, |id, _, _| {
            let ms = if id.as_str() == "intro" {
                (run_secs * 1000.0) as u32
            } else {
                500
            };
            Ok::<_, LibraryError>(tone(ms))
        })
        .unwrap();
        let mut config =
            EngineConfig::new(sockets.sip_addr().unwrap(), sockets.rtp_addr().unwrap());
        config.accept_incoming = false;
        config.media_ports = sockets.media_ports(kuulo::engine::PORT_QUARANTINE);
        config.max_concurrent = args.calls as usize + 16;
        config.media_idle = IdleMode::Silence;
        let mut engine = SurveyEngine::new(config, Arc::clone(&script), Arc::new(prompts));
        let mut store = Store::open(dir.join("results.sqlite")).unwrap();
        let campaign = campaign_for(&mut store, &script.id, &script.title).unwrap();
        let worker =
            StoreWorker::spawn(StoreApplier::new(store, campaign, dir.join("rec"))).unwrap();
        let mut scale = Scale {
            target: Uri::parse(&format!("sip:callee@{sink_sip}")).unwrap(),
            destination: Peer::udp(sink_sip),
            total: args.calls,
            placed: 0,
            start: instant_at(start_ms),
            interval: Duration::from_secs_f64(1.0 / args.rate),
            window: (instant_at(window_start_ms), instant_at(window_end_ms)),
            started: 0,
            ended: 0,
            refused: 0,
            baseline_rss: rss_kib(),
            marks: Vec::new(),
        };
        let bounds = Bounds {
            max_calls: None,
            until: Some(instant_at(window_end_ms) + Duration::from_millis(200)),
        };
        if args.realtime {
            kuulo::engine::realtime::raise_to_realtime().expect("SCHED_FIFO (run as root)");
        }
        let summary = run_app(
            &mut engine,
            &sockets,
            &worker,
            bounds,
            std::future::pending(),
            &mut scale,
        )
        .await
        .unwrap();
        worker.finish();
        (scale, summary)
    });
    let _ = std::fs::remove_dir_all(&dir);

    let mut sink_stats = String::new();
    for l in sink_out.lines().map_while(Result::ok) {
        if let Some(s) = l.strip_prefix("STATS ") {
            sink_stats = s.to_owned();
            break;
        }
    }
    let _ = sink.wait();

    let [a, b] = scale.marks[..] else {
        panic!("the window was not reached: {:?}", scale.marks.len());
    };
    let secs = (b.at - a.at).as_secs_f64();
    let cpu = (b.thread_cpu - a.thread_cpu).as_secs_f64() / secs;
    let sent = (b.media.packets_sent - a.media.packets_sent) as f64 / secs;
    let received = (b.media.packets_received - a.media.packets_received) as f64 / secs;
    let skipped = b.media.ticks_skipped - a.media.ticks_skipped;
    let rss_per_call =
        (b.rss_kib.saturating_sub(scale.baseline_rss)) as f64 / b.calls.max(1) as f64;
    let h = &b.media.send_interval;
    let per_packet_us = cpu * 1e6 / (sent + received).max(1.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "calls {} up {} (started {}, ended {}, refused {}); load average {}",
        args.calls,
        b.calls,
        scale.started,
        scale.ended,
        scale.refused,
        load.split_whitespace().next().unwrap_or("?")
    );
    println!(
        "engine: window {secs:.1} s, thread CPU {:.1}% ({per_packet_us:.2} us per RTP packet in or out), \
         RTP sent {sent:.0}/s received {received:.0}/s, ticks skipped {skipped}, RSS {} MiB ({rss_per_call:.1} KiB/call over a {} MiB baseline)",
        cpu * 100.0,
        b.rss_kib / 1024,
        scale.baseline_rss / 1024
    );
    println!(
        "engine send clock (own view, whole run): p50 {:?} p99 {:?} max {:?} over {} intervals",
        h.quantile(0.5),
        h.quantile(0.99),
        h.max(),
        h.count()
    );
    println!(
        "run: media sent {} received {} send-dropped {}",
        summary.media_sent, summary.media_received, summary.media_send_dropped
    );
    println!("receiver: {sink_stats}");
    println!(
        "share: RTP in and out {:.0}/s = {:.1}% of raw loopback UDP ({raw_udp:.0}/s for 172-byte datagrams, one sender and one receiver thread, measured before the run)",
        sent + received,
        100.0 * (sent + received) / raw_udp.max(1.0)
    );
}

/// A 440 Hz tone, standing in for a spoken prompt.
fn tone(ms: u32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (6000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

// ---------------------------------------------------------------- sink

/// Arrival-delta deviations in 10 µs buckets up to 50 ms.
struct Deviations {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

const DEV_BUCKET_US: u64 = 10;

impl Deviations {
    fn new() -> Deviations {
        Deviations {
            buckets: vec![0; 5000],
            count: 0,
            max_us: 0,
        }
    }

    fn record(&mut self, us: u64) {
        let i = ((us / DEV_BUCKET_US) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    fn quantile_us(&self, q: f64) -> u64 {
        let want = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return (i as u64 + 1) * DEV_BUCKET_US;
            }
        }
        self.max_us
    }
}

/// The sink's counters, shared by its tasks on one thread.
struct Shared {
    measuring: Cell<bool>,
    received: Cell<u64>,
    sent: Cell<u64>,
    gaps: Cell<u64>,
    deviations: RefCell<Deviations>,
}

fn sink_main(args: &Args) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, sink(args.clone()));
}

async fn sink(args: Args) {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let sip = UdpSocket::bind((ip, 0)).await.expect("bind SIP");
    let sip_addr = sip.local_addr().unwrap();
    let shared = Rc::new(Shared {
        measuring: Cell::new(false),
        received: Cell::new(0),
        sent: Cell::new(0),
        gaps: Cell::new(0),
        deviations: RefCell::new(Deviations::new()),
    });
    let mut free = Vec::new();
    // RTCP ports are bound (so the engine's reports do not bounce as ICMP
    // errors) and never read: the kernel drops what overflows.
    let mut rtcp_sockets = Vec::new();
    // Port pairs from `--rtp-base` up, skipping pairs other programs hold.
    let mut port = args.rtp_base;
    while free.len() < args.calls as usize {
        assert!(
            port < 32766,
            "only {} free port pairs from {} (try another --rtp-base)",
            free.len(),
            args.rtp_base
        );
        let pair = (
            std::net::UdpSocket::bind((ip, port)),
            std::net::UdpSocket::bind((ip, port + 1)),
        );
        if let (Ok(rtp), Ok(rtcp)) = pair {
            rtcp_sockets.push(rtcp);
            rtp.set_nonblocking(true).unwrap();
            let rtp = UdpSocket::from_std(rtp).unwrap();
            tokio::task::spawn_local(reflect(rtp, Rc::clone(&shared)));
            free.push(port);
        }
        port += 2;
    }
    println!("SIP {sip_addr}");
    std::io::stdout().flush().unwrap();

    let window = (
        instant_at(args.window_start_ms),
        instant_at(args.window_end_ms),
    );
    let stop = window.1 + Duration::from_secs(3);
    let mut ua = UserAgent::new(UaConfig::new(sip_addr));
    let mut ports = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let mut cpu_at_start = None;
    let mut window_open = None;
    loop {
        while let Some(t) = ua.poll_transmit() {
            let _ = sip.send_to(&t.payload, t.destination.addr).await;
        }
        let now = Instant::now();
        if cpu_at_start.is_none() && now >= window.0 {
            cpu_at_start = Some(cpu_time(false));
            window_open = Some(now);
            shared.measuring.set(true);
        }
        if shared.measuring.get() && now >= window.1 {
            shared.measuring.set(false);
            let secs = (now - window_open.unwrap()).as_secs_f64();
            let cpu = (cpu_time(false) - cpu_at_start.unwrap()).as_secs_f64() / secs;
            let d = shared.deviations.borrow();
            println!(
                "STATS received {:.0}/s reflected {:.0}/s, sink CPU {:.1}%, arrival deviation \
                 p50 {} us p99 {} us p99.9 {} us max {} us over {} intervals, {} sequence gaps",
                shared.received.get() as f64 / secs,
                shared.sent.get() as f64 / secs,
                cpu * 100.0,
                d.quantile_us(0.5),
                d.quantile_us(0.99),
                d.quantile_us(0.999),
                d.max_us,
                d.count,
                shared.gaps.get()
            );
            std::io::stdout().flush().unwrap();
        }
        if now >= stop {
            return;
        }
        let mut deadline = ua.poll_timeout().unwrap_or(stop).min(stop);
        if cpu_at_start.is_none() {
            deadline = deadline.min(window.0);
        } else if shared.measuring.get() {
            deadline = deadline.min(window.1);
        }
        tokio::select! {
            r = sip.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    ua.handle_datagram(Instant::now(), Peer::udp(from), Bytes::copy_from_slice(&buf[..n]));
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {
                ua.handle_timeout(Instant::now());
            }
        }
        let now = Instant::now();
        while let Some(ev) = ua.poll_event() {
            match ev {
                UaEvent::Incoming { call, offer, .. } => {
                    let Some(port) = free.pop() else {
                        ua.reject(now, call, 486);
                        continue;
                    };
                    let cfg = MediaConfig::new(ip, port);
                    let answer = offer
                        .and_then(|o| SessionDescription::parse(&o).ok())
                        .and_then(|o| sdp::answer_offer(&o, &cfg).ok());
                    match answer {
                        Some((answer, _)) => {
                            ports.insert(call, port);
                            ua.answer(now, call, Bytes::from(answer.to_string()));
                        }
                        None => {
                            free.push(port);
                            ua.reject(now, call, 488);
                        }
                    }
                }
                UaEvent::Ended { call, .. } => {
                    if let Some(port) = ports.remove(&call) {
                        free.push(port);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Sends every RTP packet back where it came from under another SSRC,
/// recording how far each arrival strayed from 20 ms after the last.
async fn reflect(socket: UdpSocket, shared: Rc<Shared>) {
    let mut buf = [0u8; 2048];
    let mut last: Option<(u32, u16, Instant)> = None;
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let now = Instant::now();
        if n < 12 {
            continue;
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if shared.measuring.get() {
            shared.received.set(shared.received.get() + 1);
            if let Some((s, q, at)) = last {
                if s == ssrc && seq == q.wrapping_add(1) {
                    let delta = now - at;
                    let dev = delta.abs_diff(Duration::from_millis(20));
                    shared
                        .deviations
                        .borrow_mut()
                        .record(dev.as_micros() as u64);
                } else if s == ssrc {
                    shared.gaps.set(shared.gaps.get() + 1);
                }
            }
        }
        last = Some((ssrc, seq, now));
        buf[8..12].copy_from_slice(&(!ssrc).to_be_bytes());
        if socket.try_send_to(&buf[..n], from).is_ok() && shared.measuring.get() {
            shared.sent.set(shared.sent.get() + 1);
        }
    }
}
