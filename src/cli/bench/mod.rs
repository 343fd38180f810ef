//! `kuulo bench`: a survey campaign at a target rate and concurrency
//! against simulated residents in a separate process (`kuulo residents`),
//! with full media on every call, measured: setup rate and times, CPU per
//! call-minute, memory per concurrent call, RTP send-interval deviation,
//! loss, DTMF sent against detected, and the machine's raw loopback UDP
//! rate in the same run, so the packet rate can be quoted as a share of
//! what this machine can move at all.
//!
//! Two callee populations: the built-in simulated residents, and sipp UAS
//! processes (Debian's sip-tester) answering every call and pressing the
//! survey's keys from sipp's RFC 2833 pcaps, so the figures do not rest
//! on our own code at both ends.
//!
//! `--smoke` is the short run CI makes on every change: it fails on any
//! failed call, any digit lost or invented, or any answer not stored.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kuulo::campaign::{
    CallingHours, DialerConfig, ExclusionPolicy, Exclusions, RetryPolicy, Store,
};
use kuulo::engine::raw_udp_rate;
use kuulo::engine::{LibraryError, PromptLibrary};
use kuulo::media::session::IdleMode;
use serde::Serialize;

use super::dial::{dial, DialPlan, ProgressStyle};
use super::runtime::{self, Prepared};
use super::{exit, fail};

mod sipp;

/// The survey every bench call runs: consent, a yes/no question, a rating
/// and a voice answer ended with #: the keys sipp's pcaps hold (1, 2, 4, #).
/// Prompts are tones of `--prompt-ms`, so no speech synthesis is needed.
const BENCH_SURVEY: &str = r#"
[survey]
id = "bench"
title = "Load benchmark"
caller = "Kuulo"
purpose = "to measure the engine"
languages = ["fi"]

[defaults]
timeout = 5
max_attempts = 2
on_max_attempts = "skip"
no_input_prompt = "again"
invalid_prompt = "again"

[[step]]
id = "intro"
type = "play"
prompt = "intro"

[[step]]
id = "consent"
type = "consent"
prompt = "consent"
declined_prompt = "bye"

[[step]]
id = "used"
type = "yes_no"
prompt = "used"

[[step]]
id = "rating"
type = "scale"
prompt = "rating"
min = 1
max = 5

[[step]]
id = "comment"
type = "record"
prompt = "comment"
max_seconds = 10
silence_seconds = 0

[[step]]
id = "thanks"
type = "end"
prompt = "bye"

[prompts]
intro = { fi = "Hei." }
consent = { fi = "Paina 1." }
used = { fi = "Kylla vai ei." }
rating = { fi = "Arvosana." }
comment = { fi = "Kerro." }
again = { fi = "Uudelleen." }
bye = { fi = "Kiitos." }
"#;

/// Arguments of `kuulo bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The short CI run: 400 calls at 40 calls/s with 0.6 s prompts; exits 1
    /// on any failed call, lost or extra digit, or lost answer.
    #[arg(long)]
    smoke: bool,
    /// Calls to place.
    #[arg(long, default_value_t = 6000)]
    calls: u32,
    /// Calls started per second.
    #[arg(long, default_value_t = 100.0)]
    cps: f64,
    /// Length of each prompt; a call hears six, so a call lasts about
    /// six times this plus the residents' thinking.
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    prompt_ms: u32,
    /// Most calls at once (the residents' capacity is this plus a margin).
    #[arg(long, default_value_t = 3000)]
    max_concurrent: u32,
    /// First RTP port of the residents (two each).
    #[arg(long, default_value_t = 20000)]
    rtp_base: u16,
    /// Give each of Kuulo's calls a pair of RTP ports from this range
    /// (e.g. 40000-49999) instead of one pair for all: to measure what a
    /// port per call costs.
    #[arg(long, value_name = "FIRST-LAST", value_parser = super::runtime::parse_rtp_ports)]
    rtp_ports: Option<super::runtime::RtpPortRange>,
    /// Who answers: `sim` (simulated residents in a child process) or
    /// `sipp` (sipp UAS processes with RFC 2833 pcaps).
    #[arg(long, default_value = "sim", value_parser = ["sim", "sipp"])]
    population: String,
    /// sipp processes to spread the calls over [default: one per 800
    /// calls at once].
    #[arg(long)]
    sipp_instances: Option<u32>,
    /// Write the figures as JSON here too.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep the run's files (store, survey) in this folder.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Run the engine thread with real-time priority (SCHED_FIFO 10), as
    /// Asterisk's -p and FreeSWITCH's -rp do: media ticks stay on time
    /// when other processes load the machine. Needs root or CAP_SYS_NICE.
    #[arg(long)]
    realtime: bool,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the residents did not start: {0}")]
    Residents(String),
    #[error("the bench survey's prompts: {0}")]
    Prompts(String),
    #[error(transparent)]
    Store(#[from] kuulo::campaign::StoreError),
    #[error(transparent)]
    Dial(#[from] super::dial::DialError),
    #[error("the residents' summary: {0}")]
    Summary(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

/// The figures of a run, as printed and as JSON.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Calls placed.
    pub attempted: u64,
    /// Calls that ran the survey to its end.
    pub completed: u64,
    /// Calls that did not (any disposition but completed).
    pub failed: u64,
    /// Calls placed per second of dialling, achieved.
    pub setup_rate: f64,
    /// Most calls under way at once.
    pub peak_concurrent: usize,
    /// INVITE to answer, median and 99th percentile, ms.
    pub setup_ms_p50: f64,
    /// See `setup_ms_p50`.
    pub setup_ms_p99: f64,
    /// CPU seconds the caller's process spent per minute of calls.
    pub cpu_secs_per_call_minute: f64,
    /// CPU per call, ms (the caller's process).
    pub cpu_ms_per_call: f64,
    /// Growth of the caller's resident memory at the peak, per call then
    /// under way, KiB (shared prompt audio is allocated before).
    pub rss_kib_per_concurrent_call: f64,
    /// Deviation of the caller's RTP send intervals from 20 ms, ms.
    pub send_deviation_ms_p50: f64,
    /// See `send_deviation_ms_p50`.
    pub send_deviation_ms_p99: f64,
    /// See `send_deviation_ms_p50`.
    pub send_deviation_ms_max: f64,
    /// Send ticks the caller skipped because it woke too late.
    pub ticks_skipped: u64,
    /// RTP packets the caller sent and received.
    pub rtp_sent: u64,
    /// See `rtp_sent`.
    pub rtp_received: u64,
    /// Inbound RTP packets lost, by sequence numbers.
    pub rtp_lost: i64,
    /// Inbound RTP packets too late for playout.
    pub rtp_late: u64,
    /// RTP packets per second through the caller (both directions) at the
    /// peak, estimated from the calls under way.
    pub peak_packet_rate: f64,
    /// This machine's raw loopback rate for 172-byte datagrams, one
    /// sender and one receiver thread.
    pub raw_udp_rate: f64,
    /// `peak_packet_rate` over `raw_udp_rate`.
    pub share_of_raw_udp: f64,
    /// Keys the residents pressed.
    pub digits_sent: u64,
    /// Key answers the caller stored.
    pub digits_detected: u64,
    /// Answers the residents gave that the store does not hold, or holds
    /// differently.
    pub answers_lost: u64,
    /// Answers stored that no resident gave.
    pub answers_extra: u64,
    /// Wall time of the dialling run, s.
    pub elapsed_secs: f64,
}

/// Runs the bench; exits 1 when a smoke run finds a fault.
pub fn run(mut args: Args) -> ExitCode {
    if args.smoke {
        // Calls still start while the first ones end (about 7 s each over
        // 10 s of dialling): where a new call met an old one's packets.
        args.calls = 400;
        args.cps = 40.0;
        args.prompt_ms = 600;
        args.max_concurrent = 500;
    }
    match bench(&args) {
        Ok(report) => {
            print_report(&report);
            if let Some(path) = &args.json {
                let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                if let Err(e) = std::fs::write(path, json) {
                    return fail(&e, exit::TROUBLE);
                }
            }
            let faults = report.failed
                + u64::from(args.calls).saturating_sub(report.attempted)
                + report.answers_lost
                + report.answers_extra
                + report.digits_sent.abs_diff(report.digits_detected);
            if args.smoke && faults > 0 {
                eprintln!("kuulo bench --smoke: {faults} faults (failed calls, lost or extra digits or answers)");
                ExitCode::from(exit::FINDINGS)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn bench(args: &Args) -> Result<BenchReport, BenchError> {
    let capacity = (args.max_concurrent + args.max_concurrent / 5 + 10).min(16_000) as u16;
    super::demo::raise_open_files(u64::from(capacity) * 2 + 512);
    eprintln!("kuulo bench: measuring the raw loopback UDP rate (1 s)");
    let raw_udp_rate = raw_udp_rate(Duration::from_secs(1)).map_err(io("raw UDP rate"))?;

    let temp = std::env::temp_dir().join(format!("kuulo-bench-{}", std::process::id()));
    let dir = args.dir.clone().unwrap_or_else(|| temp.clone());
    std::fs::create_dir_all(&dir).map_err(io(dir.display().to_string()))?;
    let script_path = dir.join("bench.toml");
    std::fs::write(&script_path, BENCH_SURVEY).map_err(io("the bench survey"))?;
    let db = dir.join("bench.sqlite");
    for stale in ["bench.sqlite", "bench.sqlite-wal", "bench.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let contacts = dir.join("contacts.csv");
    let mut csv = String::from("phone;age\n");
    for i in 0..args.calls {
        csv.push_str(&format!("+35840{:07};40\n", 1_000_000 + i));
    }
    std::fs::write(&contacts, csv).map_err(io("the contact list"))?;

    let prepared = prepare(&script_path, &db, &dir, args.prompt_ms)?;
    {
        let mut store = Store::open(&db)?;
        let exclusions = Exclusions::new(ExclusionPolicy::default());
        let today = chrono::Local::now().date_naive();
        super::campaign::import(
            &mut store,
            prepared.campaign,
            &contacts,
            &dir.join("rejects.csv"),
            &exclusions,
            today,
        )
        .map_err(|e| BenchError::Residents(e.to_string()))?;
    }
    let campaign = prepared.campaign;
    let callees = if args.population == "sipp" {
        let instances = args
            .sipp_instances
            .unwrap_or_else(|| args.max_concurrent.min(args.calls).div_ceil(800))
            .max(1);
        // A key a prompt's length and half a second after the last.
        let gap = Duration::from_millis(u64::from(args.prompt_ms) + 500);
        Callees::Sipp(sipp::SippFarm::start(
            &dir,
            instances,
            args.rtp_base.saturating_sub(200),
            args.rtp_base,
            args.calls,
            gap,
        )?)
    } else {
        Callees::Sim(Residents::start(&script_path, args, capacity)?)
    };
    let trunks = callees.trunks();

    // Memory: the baseline once prompts are built, the peak while calls
    // run, sampled beside the engine's thread.
    let baseline_rss = rss_kib();
    let active = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (active, sampling) = (Arc::clone(&active), Arc::clone(&sampling));
        std::thread::spawn(move || {
            let mut peak = (0u64, 0usize);
            while sampling.load(Ordering::Relaxed) {
                let rss = rss_kib();
                let calls = active.load(Ordering::Relaxed);
                if calls > peak.1 || (calls == peak.1 && rss > peak.0) {
                    peak = (rss, calls);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    let cpu_before = cpu_time();
    let plan = DialPlan {
        trunk: trunks[0],
        trunk_host: trunks[0].to_string(),
        more_trunks: trunks[1..].iter().map(|a| (*a, a.to_string())).collect(),
        bind: SocketAddr::new(LOOPBACK, 0),
        rtp: SocketAddr::new(LOOPBACK, 0),
        rtp_ports: args.rtp_ports,
        dialer: DialerConfig {
            calls_per_second: args.cps,
            burst: 1,
            ramp_up: Duration::ZERO,
            max_concurrent: args.max_concurrent,
            // Spread evenly: each sipp replays media on one thread.
            trunks: trunks
                .iter()
                .map(|a| kuulo::campaign::dialer::Trunk {
                    name: a.to_string(),
                    max_concurrent: args.max_concurrent.div_ceil(trunks.len() as u32),
                })
                .collect(),
            hours: CallingHours::always(chrono_tz::Europe::Helsinki),
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
        },
        exclusions: Exclusions::new(ExclusionPolicy::default()),
        ring_timeout: Duration::from_secs(10),
        from: None,
        asserted_identity: None,
        credentials: None,
        media_idle: IdleMode::Nothing,
        seed: 42,
        progress: if args.quiet {
            ProgressStyle::Quiet
        } else {
            ProgressStyle::for_stderr()
        },
        active: Some(Arc::clone(&active)),
        realtime: args.realtime,
        dtmf_detect: Default::default(),
    };
    let rt = runtime::tokio().map_err(io("the runtime"))?;
    let outcome = rt.block_on(dial(prepared, &db, plan));
    let cpu = cpu_time() - cpu_before;
    sampling.store(false, Ordering::Relaxed);
    let (peak_rss, calls_at_peak) = sampler.join().unwrap_or_default();
    let answered = outcome.as_ref().map_or(0, |o| o.summary.started);
    let given = callees.stop(answered)?;
    let outcome = outcome?;
    let _ = &temp;

    let store = Store::open(&db)?;
    let stored = store.answer_rows(campaign)?;
    let conn_minutes = call_minutes(&db, campaign)?;
    let mut setup: Vec<f64> = outcome
        .setup_times
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    setup.sort_by(f64::total_cmp);
    let completed = outcome
        .summary
        .dispositions
        .get("completed")
        .copied()
        .unwrap_or(0);
    let attempted = outcome.stats.placed;
    let (lost, extra) = compare_answers(&given.answers, &stored);
    let digits_detected = stored.iter().filter(|a| a.question != "language").count() as u64;
    let h = &outcome.media.send_interval;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let peak_packet_rate = outcome.peak_active as f64 * 50.0 * 2.0;
    Ok(BenchReport {
        attempted,
        completed,
        failed: attempted - completed,
        setup_rate: attempted.saturating_sub(1) as f64
            / outcome.dialling_time.as_secs_f64().max(1e-3),
        peak_concurrent: outcome.peak_active,
        setup_ms_p50: quantile(&setup, 0.5),
        setup_ms_p99: quantile(&setup, 0.99),
        cpu_secs_per_call_minute: cpu.as_secs_f64() / conn_minutes.max(1e-9),
        cpu_ms_per_call: cpu.as_secs_f64() * 1000.0 / attempted.max(1) as f64,
        rss_kib_per_concurrent_call: peak_rss.saturating_sub(baseline_rss) as f64
            / calls_at_peak.max(1) as f64,
        send_deviation_ms_p50: ms(h.quantile(0.5)),
        send_deviation_ms_p99: ms(h.quantile(0.99)),
        send_deviation_ms_max: ms(h.max()),
        ticks_skipped: outcome.media.ticks_skipped,
        rtp_sent: outcome.media.packets_sent,
        rtp_received: outcome.media.packets_received,
        rtp_lost: outcome.media.lost,
        rtp_late: outcome.media.late,
        peak_packet_rate,
        raw_udp_rate,
        share_of_raw_udp: peak_packet_rate / raw_udp_rate.max(1.0),
        digits_sent: given.keys,
        digits_detected,
        answers_lost: lost,
        answers_extra: extra,
        elapsed_secs: outcome.elapsed.as_secs_f64(),
    })
}

/// The bench survey with tone prompts, its store and the store's thread.
fn prepare(script: &Path, db: &Path, dir: &Path, prompt_ms: u32) -> Result<Prepared, BenchError> {
    let script =
        kuulo::ivr::SurveyScript::load(script).map_err(|e| BenchError::Prompts(e.to_string()))?;
    let prompts = PromptLibrary::build(&script, |_, _, _| {
        Ok::<_, LibraryError>(super::residents::tone(prompt_ms, 600.0, 6000.0))
    })
    .map_err(|e| BenchError::Prompts(e.to_string()))?;
    let mut store = Store::open(db)?;
    let campaign = kuulo::engine::store::campaign_for(&mut store, &script.id, &script.title)?;
    let store = kuulo::engine::store::StoreWorker::spawn(kuulo::engine::store::StoreApplier::new(
        store,
        campaign,
        dir.join("recordings"),
    ))
    .map_err(io("the store's thread"))?;
    Ok(Prepared {
        script: Arc::new(script),
        prompts: Arc::new(prompts),
        store,
        campaign,
    })
}

/// Who answers the bench's calls.
enum Callees {
    Sim(Residents),
    Sipp(sipp::SippFarm),
}

impl Callees {
    fn trunks(&self) -> Vec<SocketAddr> {
        match self {
            Callees::Sim(r) => vec![r.sip],
            Callees::Sipp(f) => f.trunks.clone(),
        }
    }

    /// Stops them; what they did (`answered`: calls the caller saw
    /// answered, which sipp's scenario answers with its four keys).
    fn stop(self, answered: u64) -> Result<ResidentsSummary, BenchError> {
        match self {
            Callees::Sim(r) => r.stop(),
            Callees::Sipp(f) => Ok(f.stop(answered)),
        }
    }
}

/// The residents as a child process, so their CPU and memory are not
/// counted as the caller's.
struct Residents {
    sip: SocketAddr,
    child: Child,
    stdout: std::process::ChildStdout,
}

/// What the residents said they did.
#[derive(Debug, serde::Deserialize)]
struct ResidentsSummary {
    keys: u64,
    answers: Vec<GivenAnswer>,
}

#[derive(Debug, serde::Deserialize)]
struct GivenAnswer {
    call_id: String,
    question: String,
    value: String,
}

impl Residents {
    fn start(script: &Path, args: &Args, capacity: u16) -> Result<Residents, BenchError> {
        let exe = std::env::current_exe().map_err(io("finding the kuulo binary"))?;
        let mut child = Command::new(exe)
            .arg("residents")
            .args(["--bind", "127.0.0.1:0"])
            .args(["--rtp-base", &args.rtp_base.to_string()])
            .args(["--count", &capacity.to_string()])
            .arg("--script")
            .arg(script)
            .args(["--prompt-tones", &args.prompt_ms.to_string()])
            // Answer at once, so setup time is the signalling's alone.
            .args([
                "--seed",
                "42",
                "--answer-ms",
                "0-0",
                "--think-ms",
                "200-800",
            ])
            .args([
                "--busy",
                "0",
                "--no-answer",
                "0",
                "--decline",
                "0",
                "--hang-up",
                "0",
            ])
            // No wrong keys: every key pressed is then an answer, and
            // digits sent and detected can be compared exactly.
            .args(["--wrong-key", "0", "--barge-in", "0.3"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io("starting kuulo residents"))?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(addr) = first
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse::<SocketAddr>().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Residents(first));
        };
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("residents: {line}");
            }
        });
        let stdout = child.stdout.take().expect("piped");
        Ok(Residents {
            sip: addr,
            child,
            stdout,
        })
    }

    /// Stops them (SIGTERM) and reads their summary.
    fn stop(mut self) -> Result<ResidentsSummary, BenchError> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let mut line = String::new();
        BufReader::new(&mut self.stdout)
            .read_line(&mut line)
            .map_err(io("the residents' summary"))?;
        let _ = self.child.wait();
        serde_json::from_str(&line).map_err(|e| BenchError::Summary(format!("{e}: {line:?}")))
    }
}

impl Drop for Residents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers given but not stored as given, and stored but never given.
fn compare_answers(given: &[GivenAnswer], stored: &[kuulo::campaign::AnswerRow]) -> (u64, u64) {
    use std::collections::HashMap;
    // The residents know calls by SIP Call-ID, the store by its own id; a
    // call's answers in order are its fingerprint.
    let mut theirs: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for a in given {
        theirs
            .entry(&a.call_id)
            .or_default()
            .push((&a.question, &a.value));
    }
    let mut ours: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for a in stored {
        ours.entry(&a.call_id)
            .or_default()
            .push((&a.question, &a.value));
    }
    let mut bag: HashMap<Vec<(&str, &str)>, i64> = HashMap::new();
    for mut v in theirs.into_values() {
        v.sort();
        *bag.entry(v).or_default() += 1;
    }
    let mut extra = 0;
    for mut v in ours.into_values() {
        v.sort();
        match bag.get_mut(&v) {
            Some(n) if *n > 0 => *n -= 1,
            _ => extra += v.len() as u64,
        }
    }
    let lost = bag
        .iter()
        .map(|(v, n)| v.len() as u64 * (*n).max(0) as u64)
        .sum();
    (lost, extra)
}

/// Minutes of calls (answer or ring to end) in the store.
fn call_minutes(db: &Path, campaign: kuulo::campaign::CampaignId) -> Result<f64, BenchError> {
    let store = Store::open(db)?;
    Ok(store.call_millis(campaign)? as f64 / 60_000.0)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct passed.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn print_report(r: &BenchReport) {
    println!("kuulo bench");
    println!(
        "  calls               {} attempted, {} completed, {} failed",
        r.attempted, r.completed, r.failed
    );
    println!("  setup rate          {:.1} calls/s", r.setup_rate);
    println!("  peak concurrent     {}", r.peak_concurrent);
    println!(
        "  setup time          p50 {:.1} ms, p99 {:.1} ms",
        r.setup_ms_p50, r.setup_ms_p99
    );
    println!(
        "  CPU                 {:.3} s per call-minute, {:.2} ms per call",
        r.cpu_secs_per_call_minute, r.cpu_ms_per_call
    );
    println!(
        "  memory              {:.1} KiB per concurrent call",
        r.rss_kib_per_concurrent_call
    );
    println!(
        "  RTP send deviation  p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} ticks skipped)",
        r.send_deviation_ms_p50, r.send_deviation_ms_p99, r.send_deviation_ms_max, r.ticks_skipped
    );
    println!(
        "  RTP                 {} sent, {} received, {} lost, {} late",
        r.rtp_sent, r.rtp_received, r.rtp_lost, r.rtp_late
    );
    println!(
        "  packet rate         {:.0}/s at the peak = {:.1}% of raw loopback UDP ({:.0}/s)",
        r.peak_packet_rate,
        r.share_of_raw_udp * 100.0,
        r.raw_udp_rate
    );
    println!(
        "  DTMF                {} sent, {} detected",
        r.digits_sent, r.digits_detected
    );
    println!(
        "  answers             {} lost, {} extra",
        r.answers_lost, r.answers_extra
    );
    println!("  wall time           {:.1} s", r.elapsed_secs);
}
