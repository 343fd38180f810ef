//! What `serve` and `call` share: loading the survey and its prompts,
//! opening the results store, the tokio runtime and the stop signal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use kuulo::campaign::Store;
use kuulo::engine::store::{campaign_for, StoreApplier, StoreWorker};
use kuulo::engine::PromptLibrary;
use kuulo::ivr::SurveyScript;
use kuulo::tts::SpeechSynth;

use super::{check, exit, fail};

/// A survey ready to run: its script, its prompts encoded once, and the
/// store thread its calls write to.
pub struct Prepared {
    /// The checked script.
    pub script: Arc<SurveyScript>,
    /// Every prompt in every language and codec.
    pub prompts: Arc<PromptLibrary>,
    /// The results store's thread.
    pub store: StoreWorker,
    /// The survey's campaign in the store.
    pub campaign: kuulo::campaign::CampaignId,
}

/// Loads and checks the script (printing its findings if it cannot run),
/// encodes its prompts (synthesising text prompts into `tts_cache`),
/// opens the store at `db` and starts its thread. On failure the error is
/// printed and the exit code returned.
pub fn prepare(
    script: &Path,
    db: &Path,
    recordings: Option<PathBuf>,
    tts_cache: Option<PathBuf>,
) -> Result<Prepared, ExitCode> {
    let mut report = check::load(script).map_err(|e| fail(&e, exit::TROUBLE))?;
    let Some(script) = report.script.take() else {
        check::print_report(&report);
        return Err(ExitCode::from(exit::FINDINGS));
    };
    let synth = SpeechSynth::new(tts_cache.unwrap_or_else(super::synth::default_cache_dir))
        .map_err(|e| fail(&e, exit::TROUBLE))?;
    let prompts = PromptLibrary::load(&script, &synth).map_err(|e| fail(&e, exit::TROUBLE))?;
    let mut store = Store::open(db).map_err(|e| fail(&e, exit::TROUBLE))?;
    let campaign =
        campaign_for(&mut store, &script.id, &script.title).map_err(|e| fail(&e, exit::TROUBLE))?;
    let recordings = recordings.unwrap_or_else(|| {
        db.parent()
            .unwrap_or_else(|| Path::new("."))
            .join("recordings")
    });
    let store = StoreWorker::spawn(StoreApplier::new(store, campaign, recordings))
        .map_err(|e| fail(&e, exit::TROUBLE))?;
    Ok(Prepared {
        script: Arc::new(script),
        prompts: Arc::new(prompts),
        store,
        campaign,
    })
}

/// One thread is enough: a shard is one task, and the store has its own
/// thread.
pub fn tokio() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Completes on Ctrl-C or SIGTERM, so both end a run with its summary.
pub async fn ctrl_c() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    // Without a signal handler the run ends only on its bounds.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A seed for SSRCs and SDP ids: RFC 3550 wants them unpredictable
/// between runs, and the engine reads no randomness itself.
pub fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's randomness per process.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// [`raise_to_realtime`](kuulo::engine::realtime::raise_to_realtime) if
/// `wanted`, with a warning when it is refused.
pub fn maybe_realtime(wanted: bool) {
    use kuulo::engine::realtime::{raise_to_realtime, REALTIME_PRIORITY};
    if !wanted {
        return;
    }
    match raise_to_realtime() {
        Ok(()) => tracing::info!(
            priority = REALTIME_PRIORITY,
            "engine thread runs SCHED_FIFO"
        ),
        Err(e) => eprintln!(
            "kuulo: warning: --realtime refused ({e}); the engine runs at normal priority \
             (run as root or grant CAP_SYS_NICE)"
        ),
    }
}

/// Reads `--dtmf-detect`: which DTMF a call listens to.
pub fn parse_dtmf_detect(name: &str) -> Result<kuulo::media::session::DtmfDetectMode, String> {
    use kuulo::media::session::DtmfDetectMode;
    match name {
        "auto" => Ok(DtmfDetectMode::Auto),
        "negotiated" => Ok(DtmfDetectMode::Negotiated),
        "rfc4733" => Ok(DtmfDetectMode::Rfc4733Only),
        "inband" => Ok(DtmfDetectMode::InbandOnly),
        "both" => Ok(DtmfDetectMode::Both),
        other => Err(format!(
            "{other:?}: use auto, negotiated, rfc4733, inband or both"
        )),
    }
}

/// `--rtp-ports FIRST-LAST`: a pair of local ports per call from this
/// range, as Asterisk's `rtpstart`/`rtpend` (whose default range is
/// 10000-20000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPortRange {
    /// First port (rounded up to even).
    pub first: u16,
    /// Last port.
    pub last: u16,
}

/// Reads `--rtp-ports`: `10000-20000`.
pub fn parse_rtp_ports(text: &str) -> Result<RtpPortRange, String> {
    let usage = || format!("{text:?}: give the range as FIRST-LAST, e.g. 10000-20000");
    let (first, last) = text.split_once('-').ok_or_else(usage)?;
    let first: u16 = first.trim().parse().map_err(|_| usage())?;
    let last: u16 = last.trim().parse().map_err(|_| usage())?;
    if first == 0 || last < first + 1 + first % 2 {
        return Err(format!(
            "{text:?}: the range must hold at least one even port and the odd one above it"
        ));
    }
    Ok(RtpPortRange { first, last })
}

/// Binds the engine's sockets: SIP on `bind`, and either the one RTP pair
/// at `rtp` (default: a free even port on the SIP address) or, with
/// `ports`, a pair per call from that range. Returns the sockets with
/// the `MediaPorts` the engine's config must carry.
pub async fn bind_engine_sockets(
    bind: std::net::SocketAddr,
    rtp: Option<std::net::SocketAddr>,
    ports: Option<RtpPortRange>,
) -> std::io::Result<(
    kuulo::engine::driver::EngineSockets,
    kuulo::engine::MediaPorts,
)> {
    use kuulo::engine::driver::EngineSockets;
    let sockets = match ports {
        Some(range) => {
            let ip = rtp.map_or(bind.ip(), |a| a.ip());
            EngineSockets::bind_pool(bind, ip, range.first, range.last).await?
        }
        None => {
            let rtp = rtp.unwrap_or_else(|| std::net::SocketAddr::new(bind.ip(), 0));
            EngineSockets::bind(bind, rtp).await?
        }
    };
    let ports = sockets.media_ports(kuulo::engine::PORT_QUARANTINE);
    Ok((sockets, ports))
}

/// The media ports for a start-up line: `RTP 127.0.0.1:30000`, or
/// `RTP 127.0.0.1:10000-19999 (5000 pairs, one per call)`.
pub fn describe_media(ports: &kuulo::engine::MediaPorts, rtp: std::net::SocketAddr) -> String {
    match ports {
        kuulo::engine::MediaPorts::Shared => format!("RTP {rtp}"),
        kuulo::engine::MediaPorts::Pool { rtp_ports, .. } => {
            let first = rtp_ports.iter().min().copied().unwrap_or(rtp.port());
            let last = rtp_ports.iter().max().copied().unwrap_or(rtp.port()) + 1;
            format!(
                "RTP {}:{first}-{last} ({} pairs, one per call)",
                rtp.ip(),
                rtp_ports.len()
            )
        }
    }
}

#[cfg(test)]
mod rtp_port_tests {
    use super::*;

    #[test]
    fn media_ports_are_described_for_the_start_up_line() {
        use kuulo::engine::MediaPorts;
        let rtp = "127.0.0.1:30000".parse().unwrap();
        assert_eq!(
            describe_media(&MediaPorts::Shared, rtp),
            "RTP 127.0.0.1:30000"
        );
        let pool = MediaPorts::Pool {
            rtp_ports: vec![10000, 10004, 10002],
            quarantine: std::time::Duration::from_secs(10),
        };
        assert_eq!(
            describe_media(&pool, rtp),
            "RTP 127.0.0.1:10000-10005 (3 pairs, one per call)"
        );
    }

    #[test]
    fn rtp_port_ranges_are_read_and_bad_ones_say_how() {
        assert_eq!(
            parse_rtp_ports("10000-20000"),
            Ok(RtpPortRange {
                first: 10000,
                last: 20000
            })
        );
        assert!(parse_rtp_ports("10001-10003").is_ok(), "10002/10003 fit");
        for bad in [
            "",
            "10000",
            "10000-",
            "-20000",
            "a-b",
            "20000-10000",
            "10001-10002",
            "0-100",
            "10000-70000",
        ] {
            let err = parse_rtp_ports(bad).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
