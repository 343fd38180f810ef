//! `kuulo residents --bind ADDR --script S`: a simulated population of
//! residents answering survey calls on loopback or a lab network, as a
//! process of its own: a fake phone network to point
//! `kuulo campaign run --trunk` (or any SIP caller) at. It runs until
//! Ctrl-C, SIGTERM or `--duration`, then prints what the residents did as
//! one JSON line on stdout, so a script or test can compare it with the
//! results store.
//!
//! Residents hear a prompt's end as a pause in the caller's RTP (see
//! `kuulo::sim`), so the caller must send nothing between prompts, as the
//! survey engine does with `IdleMode::Nothing`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kuulo::engine::{LibraryError, PromptLibrary};
use kuulo::media::prompt::EncodedPrompt;
use kuulo::media::sdp::AudioCodec;
use kuulo::sim::driver::{self, PopulationSockets};
use kuulo::sim::{GivenAnswer, PopulationConfig, PopulationStats, ResidentPopulation, Shares};
use serde::Serialize;

use super::{check, exit, fail, runtime};

/// Arguments of `kuulo residents`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The population's SIP address (a concrete IP: it goes into Contact
    /// and SDP).
    #[arg(long, default_value = "127.0.0.1:5070")]
    pub bind: SocketAddr,
    /// First RTP port; call `i` at once uses `rtp-base + 2 i` and the port
    /// above it for RTCP.
    #[arg(long, default_value_t = 30_000, value_name = "PORT")]
    pub rtp_base: u16,
    /// How many calls the population can take at once (two ports each).
    #[arg(long, default_value_t = 200)]
    pub count: u16,
    /// The survey the residents answer (the caller's `survey.toml`): they
    /// follow it to know which keys are answers.
    #[arg(long)]
    pub script: PathBuf,
    /// Seed of every random choice; the same seed gives the same residents.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of calls rejected with 486 Busy Here.
    #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
    pub busy: f64,
    /// Share of calls left ringing (the caller's ring timeout ends them).
    #[arg(long, default_value_t = 0.15, value_name = "SHARE")]
    pub no_answer: f64,
    /// Of the answered calls: share declining the consent question.
    #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
    pub decline: f64,
    /// Of the answered calls: share hanging up after one or two answers.
    #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
    pub hang_up: f64,
    /// Of the answered calls: share pressing an invalid key once first.
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    pub wrong_key: f64,
    /// Of the answered calls: share pressing keys while the question is
    /// still being read (barge-in).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub barge_in: f64,
    /// Stop after this many seconds [default: run until Ctrl-C or SIGTERM].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Answer within 0.2-1 s and press keys after 0.1-0.4 s instead of
    /// the realistic 0.5-4 s and 0.3-1.5 s: for tests and quick demos.
    #[arg(long)]
    pub fast: bool,
    /// Ring this long before answering, a range in ms (e.g. `0-0` answers
    /// at once) [default: 500-4000, or 200-1000 with --fast].
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_range_ms)]
    pub answer_ms: Option<(Duration, Duration)>,
    /// Think this long before pressing a key, a range in ms [default:
    /// 300-1500, or 100-400 with --fast].
    #[arg(long, value_name = "MIN-MAX", value_parser = parse_range_ms)]
    pub think_ms: Option<(Duration, Duration)>,
    /// What residents say to an open question: an 8 kHz mono 16-bit WAV
    /// [default: a 1.2 s tone].
    #[arg(long, value_name = "WAV")]
    pub voice: Option<PathBuf>,
    /// Know the prompts' lengths from the script's own prompts (recorded,
    /// or spoken by espeak-ng from the same cache the caller uses), so a
    /// caller stalled under load is not taken for a prompt's end.
    #[arg(long, conflicts_with = "prompt_tones")]
    pub speech_prompts: bool,
    /// The caller plays every prompt as a tone this long (`kuulo bench`).
    #[arg(long, value_name = "MS")]
    pub prompt_tones: Option<u32>,
    /// Folder of synthesised prompts [default: $XDG_CACHE_HOME/kuulo/tts].
    #[arg(long, value_name = "DIR")]
    pub tts_cache: Option<PathBuf>,
}

/// Why the population could not run.
#[derive(Debug, thiserror::Error)]
enum ResidentsError {
    #[error(
        "--bind {0} has no concrete IP; residents put it in Contact and SDP (try 127.0.0.1:5070)"
    )]
    Unspecified(SocketAddr),
    #[error("--{name} {value} is not a share between 0 and 1")]
    Share { name: &'static str, value: f64 },
    #[error("--{0} and --{1} together exceed 1")]
    SharesOver(&'static str, &'static str),
    #[error("--rtp-base {base} with --count {count} runs past port 65535")]
    Ports { base: u16, count: u16 },
    #[error("--duration {0} is not a number of seconds")]
    Duration(f64),
    #[error("could not bind the residents' ports")]
    Bind(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Voice(#[from] kuulo::media::prompt::PromptError),
    #[error("the survey's prompts: {0}")]
    Prompts(String),
}

/// The JSON line printed at the end.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    calls: u64,
    busy: u64,
    no_answer: u64,
    answered: u64,
    declined: u64,
    hung_up: u64,
    keys: u64,
    voice_answers: u64,
    refused_full: u64,
    answers: Vec<Answer<'a>>,
}

/// One answer a resident gave, as the caller's store should hold it.
#[derive(Debug, Serialize)]
struct Answer<'a> {
    call_id: &'a str,
    question: &'a str,
    value: std::borrow::Cow<'a, str>,
}

impl<'a> Summary<'a> {
    fn new(stats: &PopulationStats, answers: &'a [GivenAnswer]) -> Summary<'a> {
        Summary {
            calls: stats.calls,
            busy: stats.busy,
            no_answer: stats.no_answer,
            answered: stats.answered,
            declined: stats.declined,
            hung_up: stats.hung_up,
            keys: stats.keys,
            voice_answers: stats.voice_answers,
            refused_full: stats.refused_full,
            answers: answers
                .iter()
                .map(|a| Answer {
                    call_id: &a.call_id,
                    question: &a.question,
                    value: a.value.as_text(),
                })
                .collect(),
        }
    }
}

/// Runs the population until stopped and prints its summary; exits 0, or
/// 2 when it cannot start.
pub fn run(args: Args) -> ExitCode {
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    let mut report = match check::load(&args.script) {
        Ok(r) => r,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    let Some(script) = report.script.take() else {
        // Findings go to stderr: stdout is kept for the summary line.
        for diagnostic in &report.diagnostics {
            eprintln!("{diagnostic}");
        }
        return ExitCode::from(exit::FINDINGS);
    };
    let voice = match &args.voice {
        Some(path) => EncodedPrompt::from_wav(path, AudioCodec::Pcmu),
        None => EncodedPrompt::from_samples(&tone(1200, 440.0, 8000.0), AudioCodec::Pcmu),
    };
    let voice = match voice {
        Ok(v) => v,
        Err(e) => return fail(&ResidentsError::from(e), exit::TROUBLE),
    };
    let mut config = config;
    config.prompts = match prompt_lengths(&args, &script) {
        Ok(p) => p,
        Err(e) => return fail(&e, exit::TROUBLE),
    };
    let mut population = ResidentPopulation::new(config, Arc::new(script), Arc::new(voice));
    let ran = runtime::tokio()
        .map_err(ResidentsError::from)
        .and_then(|rt| rt.block_on(serve(&args, &mut population)));
    if let Err(e) = ran {
        return fail(&e, exit::TROUBLE);
    }
    let summary = Summary::new(population.stats(), population.answers());
    match serde_json::to_string(&summary) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

/// `200-1000`: a range of milliseconds.
fn parse_range_ms(s: &str) -> Result<(Duration, Duration), String> {
    let bad = || format!("{s:?} is not a range of milliseconds like 200-1000");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    Ok((Duration::from_millis(a), Duration::from_millis(b)))
}

/// The prompts as the caller plays them, when the command line says.
fn prompt_lengths(
    args: &Args,
    script: &kuulo::ivr::SurveyScript,
) -> Result<Option<Arc<PromptLibrary>>, ResidentsError> {
    if let Some(ms) = args.prompt_tones {
        let library = PromptLibrary::build(script, |_, _, _| {
            Ok::<_, LibraryError>(tone(ms, 600.0, 6000.0))
        })
        .map_err(|e| ResidentsError::Prompts(e.to_string()))?;
        return Ok(Some(Arc::new(library)));
    }
    if !args.speech_prompts {
        return Ok(None);
    }
    let synth = kuulo::tts::SpeechSynth::new(
        args.tts_cache
            .clone()
            .unwrap_or_else(super::synth::default_cache_dir),
    )
    .map_err(|e| ResidentsError::Prompts(e.to_string()))?;
    let library =
        PromptLibrary::load(script, &synth).map_err(|e| ResidentsError::Prompts(e.to_string()))?;
    Ok(Some(Arc::new(library)))
}

/// The population's settings from the command line, checked.
fn config(args: &Args) -> Result<PopulationConfig, ResidentsError> {
    if args.bind.ip().is_unspecified() {
        return Err(ResidentsError::Unspecified(args.bind));
    }
    let shares = [
        ("busy", args.busy),
        ("no-answer", args.no_answer),
        ("decline", args.decline),
        ("hang-up", args.hang_up),
        ("wrong-key", args.wrong_key),
        ("barge-in", args.barge_in),
    ];
    for (name, value) in shares {
        if !(0.0..=1.0).contains(&value) {
            return Err(ResidentsError::Share { name, value });
        }
    }
    // Busy and no answer split all calls; decline and hang-up split the
    // answered ones (see `ResidentPopulation`'s persona draw).
    if args.busy + args.no_answer > 1.0 {
        return Err(ResidentsError::SharesOver("busy", "no-answer"));
    }
    if args.decline + args.hang_up > 1.0 {
        return Err(ResidentsError::SharesOver("decline", "hang-up"));
    }
    if u32::from(args.rtp_base) + 2 * u32::from(args.count) > 65_536 {
        return Err(ResidentsError::Ports {
            base: args.rtp_base,
            count: args.count,
        });
    }
    if let Some(secs) = args.duration {
        if !secs.is_finite() || secs < 0.0 {
            return Err(ResidentsError::Duration(secs));
        }
    }
    let mut config = PopulationConfig::new(args.bind, args.bind.ip(), args.rtp_base, args.count);
    config.seed = args.seed;
    config.shares = Shares {
        busy: args.busy,
        no_answer: args.no_answer,
        decline: args.decline,
        hang_up_midway: args.hang_up,
        wrong_key: args.wrong_key,
        barge_in: args.barge_in,
    };
    if args.fast {
        config.answer_delay = (Duration::from_millis(200), Duration::from_secs(1));
        config.think_time = (Duration::from_millis(100), Duration::from_millis(400));
    }
    if let Some(range) = args.answer_ms {
        config.answer_delay = range;
    }
    if let Some(range) = args.think_ms {
        config.think_time = range;
    }
    Ok(config)
}

/// Binds the sockets and answers calls until Ctrl-C, SIGTERM or the
/// duration.
async fn serve(args: &Args, population: &mut ResidentPopulation) -> Result<(), ResidentsError> {
    let sockets = PopulationSockets::bind(args.bind, args.bind.ip(), args.rtp_base, args.count)
        .map_err(ResidentsError::Bind)?;
    // Said once bound, so whoever started the process knows when to call.
    eprintln!(
        "kuulo residents: {} residents answering on {}",
        args.count,
        sockets.sip_addr()?
    );
    let duration = args.duration.map(Duration::from_secs_f64);
    let stop = async {
        match duration {
            Some(d) => {
                tokio::select! {
                    _ = runtime::ctrl_c() => {}
                    _ = tokio::time::sleep(d) => {}
                }
            }
            None => runtime::ctrl_c().await,
        }
    };
    driver::run(population, sockets, stop).await?;
    Ok(())
}

/// `ms` milliseconds of a sine at 8 kHz: a stand-in voice that any
/// speech detector hears, and `kuulo bench`'s prompts.
pub(crate) fn tone(ms: u32, hz: f32, amplitude: f32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin()) as i16)
        .collect()
}
