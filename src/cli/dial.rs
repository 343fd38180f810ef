//! The dialling loop `kuulo campaign run` and `kuulo demo` share: one
//! survey engine placing the campaign's calls through a trunk, a progress
//! line, and Ctrl-C handling that never loses a call.
//!
//! The first Ctrl-C stops placing calls and lets those under way finish,
//! so no resident is cut off mid-question; a second one hangs up at once.
//! Either way every attempt is already in the store, so running the same
//! command again resumes with the contacts still to call.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use kuulo::campaign::run::load_dialer;
use kuulo::campaign::{CampaignId, DialerConfig, DialerStats, Exclusions, Store};
use kuulo::engine::campaign::CampaignDialler;
use kuulo::engine::driver::{run_app, Bounds, EngineApp, RunSummary};
use kuulo::engine::{EngineConfig, EngineEvent, SurveyEngine};
use kuulo::media::session::IdleMode;
use kuulo::sip::digest::DigestCredentials;
use kuulo::sip::transport::Peer;
use tokio::sync::Notify;

use super::runtime::Prepared;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
    /// A line every few seconds (logs, CI).
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressStyle {
    /// A bar on a terminal, lines otherwise.
    pub fn for_stderr() -> ProgressStyle {
        if std::io::stderr().is_terminal() {
            ProgressStyle::Bar
        } else {
            ProgressStyle::Lines
        }
    }
}

/// Where and how to dial.
#[derive(Debug)]
pub struct DialPlan {
    /// Where INVITEs go (the trunk's address).
    pub trunk: SocketAddr,
    /// The host part of the Request-URI: calls go to `sip:<E.164>@host`.
    pub trunk_host: String,
    /// Further trunks (address, Request-URI host), matching
    /// `dialer.trunks` after the first.
    pub more_trunks: Vec<(SocketAddr, String)>,
    /// Local SIP address.
    pub bind: SocketAddr,
    /// Local RTP address (port 0: a free even port).
    pub rtp: SocketAddr,
    /// A pair of RTP ports per call from this range instead of `rtp`.
    pub rtp_ports: Option<super::runtime::RtpPortRange>,
    /// Pacing, hours and retries.
    pub dialer: DialerConfig,
    /// Exclusions checked again at dial time.
    pub exclusions: Exclusions,
    /// Calls ringing this long are cancelled (no answer).
    pub ring_timeout: Duration,
    /// The From value, e.g. `"Oulun kaupunki" <sip:+35881234567@trunk>`.
    pub from: Option<String>,
    /// P-Asserted-Identity, e.g. `<sip:+35881234567@trunk>`.
    pub asserted_identity: Option<String>,
    /// Digest credentials for the trunk's challenges.
    pub credentials: Option<DigestCredentials>,
    /// What the engine sends between prompts.
    pub media_idle: IdleMode,
    /// Seed for SSRCs and tags.
    pub seed: u64,
    /// Progress display.
    pub progress: ProgressStyle,
    /// Where to publish the number of calls under way (for a sampler on
    /// another thread).
    pub active: Option<Arc<std::sync::atomic::AtomicUsize>>,
    /// Run the engine thread under SCHED_FIFO (`--realtime`).
    pub realtime: bool,
    /// Which DTMF calls listen to (`--dtmf-detect`).
    pub dtmf_detect: kuulo::media::session::DtmfDetectMode,
}

/// What a dialling run did.
#[derive(Debug)]
pub struct DialOutcome {
    /// The engine's counters, dispositions included.
    pub summary: RunSummary,
    /// The dialler's figures at the end.
    pub stats: DialerStats,
    /// Every contact reached a final state.
    pub finished: bool,
    /// Stopped by Ctrl-C or SIGTERM before the end.
    pub interrupted: bool,
    /// Store writes of the dialler that failed.
    pub dialler_errors: u64,
    /// Store writes of the engine that failed.
    pub store_errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Most calls under way at once.
    pub peak_active: usize,
    /// From the first call placed to the last.
    pub dialling_time: Duration,
    /// From INVITE to the answer, of every answered call.
    pub setup_times: Vec<Duration>,
    /// The engine's media figures at the end (every call's).
    pub media: kuulo::engine::ShardMediaStats,
}

/// Why dialling could not run.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// Binding sockets or the runtime failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// Reading the campaign's queue failed.
    #[error("results store: {0}")]
    Store(#[from] kuulo::campaign::StoreError),
}

/// Runs the campaign's queue through one engine until every contact is
/// done or the user stops it; `db` is opened once more for the dialler's
/// own connection (the engine's answers go through `prepared.store`).
pub async fn dial(
    prepared: Prepared,
    db: &std::path::Path,
    plan: DialPlan,
) -> Result<DialOutcome, DialError> {
    let started = Instant::now();
    let (sockets, media_ports) =
        super::runtime::bind_engine_sockets(plan.bind, Some(plan.rtp), plan.rtp_ports).await?;
    let mut config = EngineConfig::new(sockets.sip_addr()?, sockets.rtp_addr()?);
    config.media_ports = media_ports;
    config.accept_incoming = false;
    config.max_concurrent = plan.dialer.max_concurrent as usize;
    config.seed = plan.seed;
    config.media_idle = plan.media_idle;
    config.dtmf_detect = plan.dtmf_detect;
    if let Some(from) = &plan.from {
        config.ua.from = from.clone();
    }
    config.ua.p_asserted_identity = plan.asserted_identity.clone();
    config.ua.credentials = plan.credentials.clone();
    let mut engine = SurveyEngine::new(
        config,
        Arc::clone(&prepared.script),
        Arc::clone(&prepared.prompts),
    );

    let store = Store::open(db)?;
    let dialer = load_dialer(&store, prepared.campaign, plan.dialer, plan.exclusions)?;
    let mut dialler = CampaignDialler::new(
        store,
        prepared.campaign,
        dialer,
        Peer::udp(plan.trunk),
        plan.trunk_host,
        plan.ring_timeout,
    );
    for (addr, host) in plan.more_trunks {
        dialler.add_trunk(Peer::udp(addr), host);
    }
    let presses = Arc::new(AtomicU8::new(0));
    let signals = tokio::spawn(count_stop_signals(Arc::clone(&presses)));
    let mut app = Running {
        dialler,
        presses,
        progress: Progress::new(plan.progress, prepared.campaign),
        hung_up: false,
        peak_active: 0,
        setup_times: Vec::new(),
        active: plan.active.clone(),
        placing: None,
    };
    super::runtime::maybe_realtime(plan.realtime);
    let summary = run_app(
        &mut engine,
        &sockets,
        &prepared.store,
        Bounds::default(),
        std::future::pending(),
        &mut app,
    )
    .await?;
    signals.abort();
    // Every call end committed before the figures and the report are read.
    app.dialler.close();
    app.progress.finish(&app.dialler.stats(), Instant::now());
    let store_errors = prepared.store.finish().errors;
    Ok(DialOutcome {
        summary,
        stats: app.dialler.stats(),
        finished: app.dialler.is_finished(),
        interrupted: app.presses.load(Ordering::Relaxed) > 0,
        dialler_errors: app.dialler.errors(),
        store_errors,
        elapsed: started.elapsed(),
        peak_active: app.peak_active,
        setup_times: app.setup_times,
        dialling_time: app
            .placing
            .map_or(Duration::ZERO, |(first, last, _)| last - first),
        media: engine.media_stats(),
    })
}

/// Counts Ctrl-C presses (SIGTERM counts as two: a service manager wants
/// the process gone soon, not after the last survey).
async fn count_stop_signals(presses: Arc<AtomicU8>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let add = match term.as_mut() {
            Some(term) => tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_ok() { 1 } else { return },
                _ = term.recv() => 2,
            },
            None => match tokio::signal::ctrl_c().await {
                Ok(()) => 1,
                Err(_) => return,
            },
        };
        #[cfg(not(unix))]
        let add = match tokio::signal::ctrl_c().await {
            Ok(()) => 1,
            Err(_) => return,
        };
        let before = presses.fetch_add(add, Ordering::Relaxed);
        if before == 0 && add == 1 {
            eprintln!(
                "\nkuulo: stopping: no new calls; calls under way finish (Ctrl-C again hangs up now)"
            );
        }
    }
}

/// The dialler with signal handling and progress.
struct Running {
    dialler: CampaignDialler,
    presses: Arc<AtomicU8>,
    progress: Progress,
    hung_up: bool,
    peak_active: usize,
    setup_times: Vec<Duration>,
    active: Option<Arc<std::sync::atomic::AtomicUsize>>,
    /// When the first and the latest call were placed, and how many then.
    placing: Option<(Instant, Instant, u64)>,
}

/// How often the signal flag is looked at and the progress redrawn.
const TICK: Duration = Duration::from_millis(250);

impl EngineApp for Running {
    fn on_event(&mut self, event: &EngineEvent) {
        if let EngineEvent::CallStarted { call, .. } = event {
            if let Some(placed) = self.dialler.placed_at(*call) {
                self.setup_times.push(placed.elapsed());
            }
        }
        self.dialler.on_event(event);
    }

    fn on_tick(&mut self, engine: &mut SurveyEngine, now: Instant) {
        let presses = self.presses.load(Ordering::Relaxed);
        if presses >= 1 && !self.dialler.is_draining() {
            self.dialler.stop_dialling();
        }
        if presses >= 2 && !self.hung_up {
            self.hung_up = true;
            engine.hangup_all(now);
        }
        self.dialler.on_tick(engine, now);
        let stats = self.dialler.stats();
        let placed = stats.placed;
        self.placing = match self.placing {
            None if placed > 0 => Some((now, now, placed)),
            Some((first, _, before)) if placed > before => Some((first, now, placed)),
            kept => kept,
        };
        let active = self.dialler.active_calls();
        self.peak_active = self.peak_active.max(active);
        if let Some(shared) = &self.active {
            shared.store(active, Ordering::Relaxed);
        }
        self.progress.maybe_draw(&stats, now, &self.dialler);
    }

    fn waker(&self) -> Option<Arc<Notify>> {
        self.dialler.waker()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let tick = Instant::now() + TICK;
        Some(self.dialler.poll_timeout().map_or(tick, |t| t.min(tick)))
    }

    fn is_done(&self) -> bool {
        self.dialler.is_done() || (self.hung_up && self.dialler.active_calls() == 0)
    }
}

/// The progress display: placed, active, completed, ETA.
struct Progress {
    style: ProgressStyle,
    started: Instant,
    last: Option<Instant>,
    drawn: bool,
    campaign: CampaignId,
}

impl Progress {
    fn new(style: ProgressStyle, campaign: CampaignId) -> Progress {
        Progress {
            style,
            started: Instant::now(),
            last: None,
            drawn: false,
            campaign,
        }
    }

    fn maybe_draw(&mut self, stats: &DialerStats, now: Instant, dialler: &CampaignDialler) {
        let every = match self.style {
            ProgressStyle::Bar => Duration::from_millis(200),
            ProgressStyle::Lines => Duration::from_secs(5),
            ProgressStyle::Quiet => return,
        };
        if self.last.is_some_and(|t| now < t + every) {
            return;
        }
        self.last = Some(now);
        let mut line = progress_line(stats, now - self.started);
        if dialler.is_draining() {
            line.push_str(" · stopping");
        } else if stats.active == 0 && stats.waiting > 0 {
            if let Some(at) = dialler.next_dial_at() {
                let wait = at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                if wait > Duration::from_secs(60) {
                    line.push_str(&format!(
                        " · next call in {} (calling hours or retry wait)",
                        clock(wait)
                    ));
                }
            }
        }
        let mut err = std::io::stderr().lock();
        match self.style {
            ProgressStyle::Bar => {
                let _ = write!(err, "\r\x1b[2K{line}");
                self.drawn = true;
            }
            _ => {
                let _ = writeln!(err, "campaign {}: {line}", self.campaign.0);
            }
        }
        let _ = err.flush();
    }

    fn finish(&mut self, stats: &DialerStats, now: Instant) {
        if self.style == ProgressStyle::Quiet {
            return;
        }
        let line = progress_line(stats, now - self.started);
        let mut err = std::io::stderr().lock();
        if self.drawn {
            let _ = writeln!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "campaign {}: {line}", self.campaign.0);
        }
    }
}

/// `[#####-----] 412/950 done · placed 530 · active 118 · 12.1 calls/s · ETA 0:44`
fn progress_line(stats: &DialerStats, elapsed: Duration) -> String {
    let total = stats.waiting + stats.active + stats.finished;
    let done = stats.finished;
    const WIDTH: u64 = 24;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(0);
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    let rate = stats.placed as f64 / elapsed.as_secs_f64().max(0.001);
    let eta = if done > 0 && done < total {
        let per = elapsed.as_secs_f64() / done as f64;
        format!(
            " · ETA {}",
            clock(Duration::from_secs_f64(per * (total - done) as f64))
        )
    } else {
        String::new()
    };
    format!(
        "[{bar}] {done}/{total} done · placed {} · active {} · {rate:.1} calls/s · {}{eta}",
        stats.placed,
        stats.active,
        clock(elapsed)
    )
}

/// `1:05`, `1:02:03`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_share_done_and_eta() {
        let stats = DialerStats {
            placed: 60,
            active: 10,
            waiting: 50,
            finished: 50,
            ..DialerStats::default()
        };
        let line = progress_line(&stats, Duration::from_secs(10));
        assert!(
            line.starts_with("[##########--------------] 50/110 done"),
            "{line}"
        );
        assert!(
            line.contains("placed 60 · active 10 · 6.0 calls/s"),
            "{line}"
        );
        // 50 done in 10 s, 60 to go: 12 s.
        assert!(line.ends_with("ETA 0:12"), "{line}");
    }

    #[test]
    fn clock_formats_minutes_and_hours() {
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }
}
