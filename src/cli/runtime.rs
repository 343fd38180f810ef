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
