//! `kuulo call sip:user@host:port --script S`: places one call, runs the
//! survey on it and prints how it went: for trying a script against a
//! softphone before a round.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo::engine::driver::{self, Bounds};
use kuulo::engine::{EngineConfig, EngineEvent, SurveyEngine};
use kuulo::sip::message::Uri;
use kuulo::sip::transport::Peer;
use kuulo::sip::ua::uri_socket_addr;

use super::runtime::{self, Prepared};
use super::{exit, fail};

/// Arguments of `kuulo call`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Who to call, e.g. `sip:alice@127.0.0.1:5070`.
    pub target: String,
    /// The survey script (a `survey.toml` file).
    #[arg(long)]
    pub script: PathBuf,
    /// Store the call in this results store [default: a temporary file,
    /// removed afterwards].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Local SIP address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    /// Where to send the INVITE [default: the target's host and port].
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<SocketAddr>,
    /// Local RTP address [default: the --bind address, a free even port].
    #[arg(long, value_name = "ADDR")]
    pub rtp: Option<SocketAddr>,
    /// A pair of local RTP ports per call from this range (e.g.
    /// 10000-20000, as Asterisk's rtpstart/rtpend) instead of one pair
    /// for every call; pairs already in use are skipped.
    #[arg(long, value_name = "FIRST-LAST", value_parser = super::runtime::parse_rtp_ports)]
    pub rtp_ports: Option<super::runtime::RtpPortRange>,
    /// Folder for the voice answers [default: `recordings` next to --db].
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
    /// Give up (hang up) after this many seconds in all.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    pub max_secs: f64,
    /// Folder of synthesised prompts [default: $XDG_CACHE_HOME/kuulo/tts].
    #[arg(long, value_name = "DIR")]
    pub tts_cache: Option<PathBuf>,
}

/// Why the call could not be placed.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0:?} is not a SIP URI (try sip:alice@127.0.0.1:5070)")]
    BadTarget(String),
    #[error("the target's host {0} is not an IP address; give --proxy IP:PORT")]
    NoAddress(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Engine(#[from] kuulo::engine::EngineError),
}

/// Prints the outcome and every answer; exits 0 when the survey ran, 1
/// when the call was not answered.
pub fn run(args: Args) -> ExitCode {
    let target = match Uri::parse(&args.target) {
        Ok(t) if t.as_sip().is_some() => t,
        _ => return fail(&CallError::BadTarget(args.target.clone()), exit::TROUBLE),
    };
    let destination = match args.proxy.or_else(|| uri_socket_addr(&target)) {
        Some(d) => d,
        None => return fail(&CallError::NoAddress(args.target.clone()), exit::TROUBLE),
    };
    let temp_db = args
        .db
        .is_none()
        .then(|| std::env::temp_dir().join(format!("kuulo-call-{}.sqlite", std::process::id())));
    let db = args
        .db
        .clone()
        .or_else(|| temp_db.clone())
        .unwrap_or_default();
    let prepared = match runtime::prepare(
        &args.script,
        &db,
        args.recordings.clone(),
        args.tts_cache.clone(),
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let result = runtime::tokio()
        .map_err(CallError::from)
        .and_then(|rt| rt.block_on(call(&args, target, destination, prepared)));
    if let Some(path) = temp_db {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(exit::FINDINGS),
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

/// True if the survey ran on the call.
async fn call(
    args: &Args,
    target: Uri,
    destination: SocketAddr,
    prepared: Prepared,
) -> Result<bool, CallError> {
    let (sockets, media_ports) =
        super::runtime::bind_engine_sockets(args.bind, args.rtp, args.rtp_ports).await?;
    let mut config = EngineConfig::new(sockets.sip_addr()?, sockets.rtp_addr()?);
    config.media_ports = media_ports;
    config.accept_incoming = false;
    config.max_concurrent = 1;
    config.seed = runtime::seed();
    let mut engine = SurveyEngine::new(
        config,
        Arc::clone(&prepared.script),
        Arc::clone(&prepared.prompts),
    );
    engine.place_call(Instant::now(), target, Peer::udp(destination))?;
    let bounds = Bounds {
        max_calls: Some(1),
        until: Some(Instant::now() + Duration::from_secs_f64(args.max_secs.max(0.0))),
    };
    let mut ran = false;
    driver::run(
        &mut engine,
        &sockets,
        &prepared.store,
        bounds,
        runtime::ctrl_c(),
        |ev| match ev {
            EngineEvent::CallStarted { sip_call_id, .. } => {
                ran = true;
                eprintln!("kuulo call: answered (Call-ID {sip_call_id}); survey running");
            }
            EngineEvent::CallEnded {
                disposition,
                reason,
                answers,
                ..
            } => {
                println!("outcome: {disposition} ({reason:?})");
                for (question, value) in answers {
                    println!("  {question} = {value}");
                }
            }
        },
    )
    .await?;
    let report = prepared.store.finish();
    if report.errors > 0 {
        eprintln!(
            "kuulo call: {} results store writes failed (see the log)",
            report.errors
        );
    }
    Ok(ran)
}
