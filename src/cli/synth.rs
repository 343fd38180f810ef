//! `kuulo synth SURVEY.toml [--cache DIR]`: render every text prompt of a
//! survey to 8 kHz WAV ahead of a campaign, so the first call does not wait
//! for the synthesiser.

use std::path::PathBuf;
use std::process::ExitCode;

use kuulo_ivr::PromptSource;

use super::{check, count, exit, fail};
use kuulo::tts::SpeechSynth;

/// Arguments of `kuulo synth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The survey script (a `survey.toml` file).
    pub script: PathBuf,
    /// Folder for the rendered prompts [default: $XDG_CACHE_HOME/kuulo/tts,
    /// else ~/.cache/kuulo/tts].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// Prints one line per text prompt and language: `PROMPT LANG PATH`, with
/// `(cached)` when nothing had to be rendered. A survey that is all
/// recordings renders nothing and needs no espeak-ng.
pub fn run(args: Args) -> ExitCode {
    let mut report = match check::load(&args.script) {
        Ok(report) => report,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    let Some(script) = report.script.take() else {
        check::print_report(&report);
        return ExitCode::from(exit::FINDINGS);
    };
    // Every version a call would hear spoken, listed first: a survey
    // whose prompts are all recordings needs no synthesiser at all.
    let texts: Vec<_> = script
        .prompts
        .values()
        .flat_map(|prompt| {
            prompt
                .versions
                .iter()
                .filter_map(move |(language, source)| match source {
                    PromptSource::Synthesized { text, voice } => {
                        Some((&prompt.id, language, voice, text))
                    }
                    PromptSource::Recorded(_) => None,
                })
        })
        .collect();
    if texts.is_empty() {
        eprintln!(
            "nothing to render: every prompt of {} is a recording",
            args.script.display()
        );
        return ExitCode::SUCCESS;
    }
    let synth = match SpeechSynth::new(args.cache.unwrap_or_else(default_cache_dir)) {
        Ok(synth) => synth,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    let (mut rendered, mut cached) = (0usize, 0usize);
    for (prompt, language, voice, text) in texts {
        match synth.render(voice, text) {
            Ok(r) => {
                let note = if r.cached { " (cached)" } else { "" };
                println!("{prompt} {language} {}{note}", r.path.display());
                if r.cached {
                    cached += 1;
                } else {
                    rendered += 1;
                }
            }
            Err(e) => return fail(&e, exit::TROUBLE),
        }
    }
    tracing::debug!(
        processes = synth.processes_spawned(),
        resampler = ?synth.resampler(),
        "synthesis done"
    );
    eprintln!(
        "{} rendered, {} from the cache ({})",
        count(rendered, "prompt"),
        cached,
        synth.engine_version().unwrap_or("espeak-ng not installed")
    );
    ExitCode::SUCCESS
}

/// The per-user cache, so every survey and campaign shares renderings.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("kuulo").join("tts")
}
