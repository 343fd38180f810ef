//! `kuulo serve --bind ADDR --script S --db F`: the city's inbound survey
//! number. Answers every call, runs the survey on it and stores the
//! answers (pseudonymous) until Ctrl-C, `--max-calls` or `--run-secs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::engine::driver::{self, Bounds};
use kuulo::engine::{EngineConfig, EngineEvent, SurveyEngine};

use super::runtime::{self, Prepared};
use super::{exit, fail};

/// Arguments of `kuulo serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// SIP address to listen on (UDP).
    #[arg(long, default_value = "127.0.0.1:5080")]
    pub bind: SocketAddr,
    /// The survey script (a `survey.toml` file).
    #[arg(long)]
    pub script: PathBuf,
    /// The results store (SQLite file; created if missing).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// RTP address advertised to every caller; RTCP uses the next port
    /// [default: the --bind address, a free even port].
    #[arg(long, value_name = "ADDR")]
    pub rtp: Option<SocketAddr>,
    /// A pair of local RTP ports per call from this range (e.g.
    /// 10000-20000, as Asterisk's rtpstart/rtpend) instead of one pair
    /// for every call; pairs already in use are skipped.
    #[arg(long, value_name = "FIRST-LAST", value_parser = super::runtime::parse_rtp_ports)]
    pub rtp_ports: Option<super::runtime::RtpPortRange>,
    /// Folder for voice answers (WAV, named by pseudonymous call id)
    /// [default: `recordings` next to the --db file].
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
    /// Exit after this many calls have ended.
    #[arg(long, value_name = "N")]
    pub max_calls: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub run_secs: Option<f64>,
    /// Calls taken at once; more get 486 Busy Here.
    #[arg(long, default_value_t = 200)]
    pub max_concurrent: usize,
    /// Folder of synthesised prompts [default: $XDG_CACHE_HOME/kuulo/tts].
    #[arg(long, value_name = "DIR")]
    pub tts_cache: Option<PathBuf>,
    /// Run the engine thread with real-time priority (SCHED_FIFO 10), as
    /// Asterisk's -p and FreeSWITCH's -rp do. Needs root or CAP_SYS_NICE.
    #[arg(long)]
    pub realtime: bool,
    /// Which DTMF calls listen to: `auto` (RFC 4733 events; tones in the
    /// audio until the first event, or all call when telephone-event was
    /// not negotiated), `negotiated` (as Asterisk's dtmf_mode=auto),
    /// `rfc4733`, `inband`, or `both` (for trunks that negotiate events but
    /// send tones).
    #[arg(long, default_value = "auto", value_parser = super::runtime::parse_dtmf_detect)]
    pub dtmf_detect: kuulo::media::session::DtmfDetectMode,
}

/// Serves until stopped and prints a one-line summary.
pub fn run(args: Args) -> ExitCode {
    let prepared = match runtime::prepare(
        &args.script,
        &args.db,
        args.recordings.clone(),
        args.tts_cache.clone(),
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rt = match runtime::tokio() {
        Ok(rt) => rt,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    // Raised here, after the store's thread started: only the engine's
    // thread (this one) runs real-time.
    runtime::maybe_realtime(args.realtime);
    match rt.block_on(serve(args, prepared)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

async fn serve(args: Args, prepared: Prepared) -> std::io::Result<()> {
    let (sockets, media_ports) =
        runtime::bind_engine_sockets(args.bind, args.rtp, args.rtp_ports).await?;
    let sip = sockets.sip_addr()?;
    let rtp = sockets.rtp_addr()?;
    let media = runtime::describe_media(&media_ports, rtp);
    let mut config = EngineConfig::new(sip, rtp);
    config.media_ports = media_ports;
    config.max_concurrent = args.max_concurrent;
    config.seed = runtime::seed();
    config.dtmf_detect = args.dtmf_detect;
    let mut engine = SurveyEngine::new(
        config,
        Arc::clone(&prepared.script),
        Arc::clone(&prepared.prompts),
    );
    eprintln!(
        "kuulo serve: survey {} on sip:{sip} (UDP), {media}; {} prompts loaded",
        prepared.script.id,
        prepared.prompts.len()
    );
    let bounds = Bounds {
        max_calls: args.max_calls,
        until: args
            .run_secs
            .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0))),
    };
    let started = Instant::now();
    let summary = driver::run(
        &mut engine,
        &sockets,
        &prepared.store,
        bounds,
        runtime::ctrl_c(),
        |ev| {
            if let EngineEvent::CallEnded {
                disposition,
                answers,
                ..
            } = ev
            {
                eprintln!(
                    "kuulo serve: call ended: {disposition}, {} answers",
                    answers.len()
                );
            }
        },
    )
    .await?;
    let store = prepared.store.finish();
    let dispositions: Vec<String> = summary
        .dispositions
        .iter()
        .map(|(d, n)| format!("{d}={n}"))
        .collect();
    println!(
        "kuulo serve: calls={} started={} {} answers={} recordings={} store_errors={} media_sent={} media_received={} unrouted_media={} secs={:.1}",
        summary.ended,
        summary.started,
        if dispositions.is_empty() { "no_dispositions".to_owned() } else { dispositions.join(" ") },
        store.answers,
        store.recordings,
        store.errors,
        summary.media_sent,
        summary.media_received,
        engine.unrouted_media(),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}
