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

/// The SCHED_FIFO priority `--realtime` gives the engine thread: above
/// every normal process, below the kernel's own real-time threads (50+).
pub const REALTIME_PRIORITY: i32 = 10;

/// Runs the calling thread (the engine's shard) under the real-time
/// SCHED_FIFO policy, as Asterisk's `-p` and FreeSWITCH's `-rp` do for
/// their media threads: a 20 ms media tick then waits for no ordinary
/// process sharing the core (measured with `kuulo bench`, see
/// docs/benchmarks.md). The shard sleeps between its 0.5 ms rounds, and
/// the kernel keeps 5% of every second for other tasks, so the machine
/// stays usable. Only this thread is raised: SCHED_RESET_ON_FORK gives
/// threads and processes it starts later normal priority, and the store
/// and dialler threads started before keep theirs.
///
/// Fails without root or CAP_SYS_NICE (or under a container's limits);
/// the caller warns and runs on at normal priority.
pub fn raise_to_realtime() -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: REALTIME_PRIORITY,
    };
    // SAFETY: `param` is a valid, initialised sched_param that outlives
    // the call; pid 0 names the calling thread.
    let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// [`raise_to_realtime`] if `wanted`, with a warning when it is refused.
pub fn maybe_realtime(wanted: bool) {
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
