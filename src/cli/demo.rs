//! `kuulo demo`: the whole job on one machine. A thousand simulated
//! residents answer on loopback with the same SIP and media stack a phone
//! uses; Kuulo imports a generated contact list (with the minors, business
//! numbers and marketing bans a real list has), dials the residents with
//! the digital-services survey, stores the answers and prints the report,
//! then checks the store against what the residents say they did.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kuulo::campaign::{
    CallingHours, DialerConfig, ExclusionPolicy, Exclusions, RetryPolicy, Store,
};
use kuulo::engine::PromptLibrary;
use kuulo::ivr::{PromptSource, SurveyScript};
use kuulo::media::prompt::EncodedPrompt;
use kuulo::media::sdp::AudioCodec;
use kuulo::media::session::{splitmix, IdleMode};
use kuulo::sim::driver::PopulationThread;
use kuulo::sim::{
    GivenAnswer, PersonaCounts, PopulationConfig, PopulationStats, ResidentPopulation, Shares,
};
use kuulo::tts::SpeechSynth;

use super::dial::{dial, DialPlan, ProgressStyle};
use super::{campaign, exit, fail, runtime};

/// The survey the demo runs: the Oulu round, built into the binary so the
/// demo needs no path.
const SURVEY: &str = include_str!("../../examples/surveys/digital-services/survey.toml");

/// The survey's folder in the source tree this binary was built from. Its
/// committed recordings are copied next to the demo's copy of the
/// script, where its relative `file` paths point; a binary moved away from
/// its tree finds none, and the engine speaks the prompts' text instead.
const SURVEY_SOURCE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/surveys/digital-services"
);

/// What a resident who leaves a voice answer says (Finnish, as most do).
const VOICE_ANSWER: &str = "Ajanvaraus verkossa.";

/// Arguments of `kuulo demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Residents to call (each has a number in the generated contact list,
    /// which also holds numbers the exclusions must keep out).
    #[arg(long, default_value_t = 1000)]
    residents: u16,
    /// Seed of the contact list and of every resident's behaviour: the same
    /// seed gives the same residents and the same results.
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// Calls started per second.
    #[arg(long, default_value_t = 400.0)]
    cps: f64,
    /// Share of residents whose line is busy.
    #[arg(long, default_value_t = 0.08)]
    busy: f64,
    /// Share who never answer.
    #[arg(long, default_value_t = 0.15)]
    no_answer: f64,
    /// Of those who answer: share who decline to take part.
    #[arg(long, default_value_t = 0.12)]
    decline: f64,
    /// Of those who answer: share who hang up midway.
    #[arg(long, default_value_t = 0.1)]
    hang_up: f64,
    /// Of those who answer: share who press a wrong key once.
    #[arg(long, default_value_t = 0.15)]
    wrong_key: f64,
    /// Of those who answer: share who answer over the question (barge-in).
    #[arg(long, default_value_t = 0.7)]
    barge_in: f64,
    /// Cancel calls ringing this long (the no-answer residents).
    #[arg(long, default_value_t = 12.0, value_name = "SECS")]
    ring_secs: f64,
    /// Folder for the demo's files (contacts, rejects, results store,
    /// recordings); its previous results are replaced.
    #[arg(long, default_value = "kuulo-demo")]
    dir: PathBuf,
    /// Where the HTML report goes.
    #[arg(long, default_value = "report.html")]
    html: PathBuf,
    /// First RTP port of the residents (two ports each).
    #[arg(long, default_value_t = 20000)]
    rtp_base: u16,
    /// Folder of synthesised prompts [default: $XDG_CACHE_HOME/kuulo/tts].
    #[arg(long, value_name = "DIR")]
    tts_cache: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the residents' ports {base}..{end} are not free ({source}); give --rtp-base another range below 32768")]
    Ports {
        base: u16,
        end: u32,
        source: std::io::Error,
    },
    #[error("shares must be between 0 and 1, busy + no-answer and decline + hang-up at most 1")]
    Shares,
    #[error("--residents must be at least 1")]
    NoResidents,
    #[error("speaking the voice answer: {0}")]
    Voice(String),
    #[error(transparent)]
    Campaign(#[from] campaign::CampaignError),
    #[error(transparent)]
    Store(#[from] kuulo::campaign::StoreError),
    #[error(transparent)]
    Dial(#[from] super::dial::DialError),
    #[error("the residents' thread failed")]
    Residents,
}

/// Runs the demo; exits 0 when the store agrees with the residents.
pub fn run(args: Args) -> ExitCode {
    match demo(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(exit::FINDINGS),
        Err(e) => fail(&e, exit::TROUBLE),
    }
}

fn demo(args: &Args) -> Result<bool, DemoError> {
    let shares = shares(args)?;
    if args.residents == 0 {
        return Err(DemoError::NoResidents);
    }
    // Two sockets per resident, the engine's, the store's and the prompts'.
    raise_open_files(u64::from(args.residents) * 2 + 256);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(&args.dir).map_err(io(&args.dir))?;
    let db = args.dir.join("results.sqlite");
    let recordings = args.dir.join("recordings");
    for stale in [
        "results.sqlite",
        "results.sqlite-wal",
        "results.sqlite-shm",
        "rejects.csv",
    ] {
        let _ = std::fs::remove_file(args.dir.join(stale));
    }
    let _ = std::fs::remove_dir_all(&recordings);
    let script_path = args.dir.join("survey.toml");
    std::fs::write(&script_path, SURVEY).map_err(io(&script_path))?;
    let copied = install_recordings(Path::new(SURVEY_SOURCE_DIR), &args.dir)?;
    let contacts_path = args.dir.join("contacts.csv");
    std::fs::write(&contacts_path, contact_list(args.residents, args.seed))
        .map_err(io(&contacts_path))?;

    println!(
        "kuulo demo: {} simulated residents, the digital-services survey, {} calls/s",
        args.residents, args.cps
    );
    if copied == 0 {
        println!(
            "  (the prompt recordings are not in {SURVEY_SOURCE_DIR}: espeak-ng speaks every prompt)"
        );
    }
    let prepared =
        match runtime::prepare(&script_path, &db, Some(recordings), args.tts_cache.clone()) {
            Ok(p) => p,
            Err(_) => return Ok(false),
        };
    let hours = CallingHours::always(chrono_tz::Europe::Helsinki);
    let exclusions = Exclusions::new(ExclusionPolicy::default());
    {
        let mut store = Store::open(&db)?;
        let today = hours.local_date(std::time::SystemTime::now());
        campaign::import(
            &mut store,
            prepared.campaign,
            &contacts_path,
            &args.dir.join("rejects.csv"),
            &exclusions,
            today,
        )?;
    }
    let voice = speak_voice_answer(args)?;
    let residents = Residents::start(
        Arc::clone(&prepared.script),
        Arc::clone(&prepared.prompts),
        args,
        shares,
        Arc::new(voice),
    )?;
    let campaign_id = prepared.campaign;
    let plan = DialPlan {
        trunk: residents.sip(),
        trunk_host: residents.sip().to_string(),
        more_trunks: Vec::new(),
        bind: SocketAddr::new(LOOPBACK, 0),
        rtp: SocketAddr::new(LOOPBACK, 0),
        rtp_ports: None,
        dialer: DialerConfig {
            calls_per_second: args.cps,
            burst: 1,
            ramp_up: Duration::ZERO,
            max_concurrent: u32::from(args.residents),
            trunks: Vec::new(),
            hours,
            // One attempt each, so the demo ends in two minutes; `kuulo
            // campaign run` retries busy and unanswered numbers.
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
        },
        exclusions,
        ring_timeout: Duration::from_secs_f64(args.ring_secs.max(1.0)),
        from: Some(format!(
            "\"Oulun kaupunki\" <sip:+35884410000@{}>",
            residents.sip()
        )),
        asserted_identity: Some(format!("<sip:+35884410000@{}>", residents.sip())),
        credentials: None,
        // Silence between prompts would hide where a prompt ends from the
        // residents, who listen for the pause.
        media_idle: IdleMode::Nothing,
        seed: args.seed,
        progress: if args.quiet {
            ProgressStyle::Quiet
        } else {
            ProgressStyle::for_stderr()
        },
        active: None,
        realtime: false,
        dtmf_detect: Default::default(),
    };
    let rt = runtime::tokio().map_err(|e| DemoError::Dial(e.into()))?;
    let outcome = rt.block_on(dial(prepared, &db, plan));
    let (stats, given) = residents.stop()?;
    let outcome = outcome?;
    campaign::print_outcome(&outcome);

    let store = Store::open(&db)?;
    let report = kuulo::campaign::Report::build(&store, campaign_id)?;
    println!("\n{report}");
    let html = kuulo::campaign::render_html(&report);
    std::fs::write(&args.html, html).map_err(io(&args.html))?;
    let stored = store.answer_rows(campaign_id)?.len() as u64;
    let drawn = ResidentPopulation::predict(args.seed, &shares, stats.calls);
    let checks = Checks::new(drawn, &stats, &given, &outcome, &report, stored);
    checks.print(shares);
    println!(
        "  ({} keys pressed, {} voice answers)",
        stats.keys, stats.voice_answers
    );
    println!(
        "\nreport: {}   results: {}   contacts: {}",
        args.html.display(),
        db.display(),
        contacts_path.display()
    );
    let summary = args.dir.join("demo.json");
    std::fs::write(&summary, checks.json(&stats, outcome.elapsed)).map_err(io(&summary))?;
    Ok(checks.all_agree())
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn shares(args: &Args) -> Result<Shares, DemoError> {
    let all = [
        args.busy,
        args.no_answer,
        args.decline,
        args.hang_up,
        args.wrong_key,
        args.barge_in,
    ];
    if all.iter().any(|s| !(0.0..=1.0).contains(s))
        || args.busy + args.no_answer > 1.0
        || args.decline + args.hang_up > 1.0
    {
        return Err(DemoError::Shares);
    }
    Ok(Shares {
        busy: args.busy,
        no_answer: args.no_answer,
        decline: args.decline,
        hang_up_midway: args.hang_up,
        wrong_key: args.wrong_key,
        barge_in: args.barge_in,
    })
}

/// Copies the recordings the embedded survey names from `source` (the
/// survey's folder) into `dir`, under the same relative paths, and returns
/// how many. Recordings missing from `source` are left out: the engine then
/// speaks those prompts' text, as it does for any missing file.
fn install_recordings(source: &Path, dir: &Path) -> Result<usize, DemoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    // `--dir` may be the survey's own folder: its files are already there,
    // and clearing them first would lose them.
    if let (Ok(a), Ok(b)) = (source.canonicalize(), dir.canonicalize()) {
        if a == b {
            return Ok(recorded_files(source).len());
        }
    }
    // A previous demo's copies may be stale (a prompt renamed since); only
    // this run's copies may decide between a recording and the text.
    let stale = dir.join("prompts");
    if stale.is_dir() {
        std::fs::remove_dir_all(&stale).map_err(io(&stale))?;
    }
    let files = recorded_files(source);
    for relative in &files {
        let to = dir.join(relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(source.join(relative), &to).map_err(io(&to))?;
    }
    Ok(files.len())
}

/// The relative paths of the embedded survey's recordings that exist in
/// `source`: what the loader itself resolves, so the two cannot disagree.
fn recorded_files(source: &Path) -> Vec<PathBuf> {
    let report = kuulo::ivr::check_source(SURVEY, &source.join("survey.toml"));
    let Some(script) = report.script else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = script
        .prompts
        .values()
        .flat_map(|prompt| prompt.versions.values())
        .filter_map(|version| match version {
            PromptSource::Recorded(path) => path.strip_prefix(source).ok(),
            PromptSource::Synthesized { .. } => None,
        })
        // Only paths inside the survey's folder have a place in `dir`.
        .filter(|relative| {
            relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .map(Path::to_path_buf)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The voice answer residents leave, spoken by espeak-ng once.
fn speak_voice_answer(args: &Args) -> Result<EncodedPrompt, DemoError> {
    let synth = SpeechSynth::new(
        args.tts_cache
            .clone()
            .unwrap_or_else(super::synth::default_cache_dir),
    )
    .map_err(|e| DemoError::Voice(e.to_string()))?;
    let wav = synth
        .render("fi", VOICE_ANSWER)
        .map_err(|e| DemoError::Voice(e.to_string()))?;
    EncodedPrompt::from_wav(&wav.path, AudioCodec::Pcmu)
        .map_err(|e| DemoError::Voice(e.to_string()))
}

/// A contact list as a city would get it: `residents` adults to call in
/// the number formats people write, plus minors, business lines, marketing
/// bans, duplicates and broken numbers, shuffled.
pub fn contact_list(residents: u16, seed: u64) -> String {
    let n = u32::from(residents);
    let mut rng = seed ^ 0x6b75_756c_6f00;
    let mut rows: Vec<String> = Vec::new();
    let number = |i: u32, style: u64| -> String {
        const PREFIXES: [&str; 6] = ["40", "41", "44", "45", "46", "50"];
        let prefix = PREFIXES[(i % 6) as usize];
        let digits = format!("{:07}", 1_000_000 + i * 13 % 9_000_000);
        match style % 4 {
            0 => format!("0{prefix} {} {}", &digits[..3], &digits[3..]),
            1 => format!("+358{prefix}{digits}"),
            2 => format!("0{prefix}{digits}"),
            _ => format!("0{prefix}-{digits}"),
        }
    };
    let language = |roll: u64| match roll % 100 {
        0..=86 => "fi",
        87..=95 => "sv",
        _ => "en",
    };
    let mut next = || splitmix(&mut rng);
    for i in 0..n {
        let (style, age, lang) = (next(), 18 + next() % 78, language(next()));
        rows.push(format!("{};{age};henkilö;{lang};", number(i, style)));
    }
    // What the exclusions must catch: about 2% minors, 2% business lines,
    // 1.5% marketing bans.
    let extra = |share_per_mille: u32| (n * share_per_mille).div_ceil(1000);
    let mut i = n;
    for _ in 0..extra(20) {
        let (style, age) = (next(), 10 + next() % 8);
        rows.push(format!("{};{age};henkilö;fi;", number(i, style)));
        i += 1;
    }
    for _ in 0..extra(20) {
        let style = next();
        rows.push(format!("{};;yritys;fi;", number(i, style)));
        i += 1;
    }
    for _ in 0..extra(15) {
        let (style, age) = (next(), 18 + next() % 70);
        rows.push(format!("{};{age};henkilö;fi;x", number(i, style)));
        i += 1;
    }
    // Typing errors go to the rejects file; a number listed twice in
    // another format is merged into one contact.
    for k in 0..extra(10) {
        rows.push(format!("040 12{k};40;henkilö;fi;"));
    }
    for k in 0..extra(5) {
        let style = next();
        let age = 30 + k % 40;
        rows.push(format!(
            "{};{age};henkilö;fi;",
            number(k * 7 % n, style + 1)
        ));
    }
    for k in (1..rows.len()).rev() {
        let j = (next() % (k as u64 + 1)) as usize;
        rows.swap(k, j);
    }
    let mut out = String::from("puhelin;ikä;tyyppi;kieli;markkinointikielto\n");
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out
}

/// Raises the soft limit on open files towards `want` (Debian's default
/// soft limit, 1,024, is too low for a thousand residents' sockets).
pub(crate) fn raise_open_files(want: u64) {
    let got = kuulo::engine::raise_open_files(want);
    if got < want {
        eprintln!(
            "kuulo demo: can open only {got} files; fewer residents fit (`ulimit -n {want}` first)"
        );
    }
}

/// The residents on a thread and runtime of their own, as a separate
/// phone network would be.
struct Residents(PopulationThread);

impl Residents {
    fn start(
        script: Arc<SurveyScript>,
        prompts: Arc<PromptLibrary>,
        args: &Args,
        shares: Shares,
        voice: Arc<EncodedPrompt>,
    ) -> Result<Residents, DemoError> {
        let (capacity, base, seed) = (args.residents, args.rtp_base, args.seed);
        let configure = move |config: &mut PopulationConfig| {
            config.seed = seed;
            config.shares = shares;
            config.prompts = Some(prompts);
            // Brisk enough that a thousand calls end in two minutes,
            // within what people do.
            config.answer_delay = (Duration::from_millis(500), Duration::from_secs(3));
            config.think_time = (Duration::from_millis(300), Duration::from_millis(1000));
        };
        kuulo::sim::driver::spawn(LOOPBACK, base, capacity, configure, script, voice)
            .map(Residents)
            .map_err(|source| DemoError::Ports {
                base,
                end: u32::from(base) + 2 * u32::from(capacity),
                source,
            })
    }

    fn sip(&self) -> SocketAddr {
        self.0.sip
    }

    fn stop(self) -> Result<(PopulationStats, Vec<GivenAnswer>), DemoError> {
        self.0.stop().map_err(|e| {
            eprintln!("kuulo demo: the residents stopped: {e}");
            DemoError::Residents
        })
    }
}

/// What the seed says the residents will do, what they say they did, and
/// what the store holds: the three must agree exactly.
struct Checks {
    /// (what, drawn from the seed, the residents' log, the store).
    rows: Vec<(&'static str, Option<u64>, u64, u64)>,
}

impl Checks {
    fn new(
        drawn: PersonaCounts,
        stats: &PopulationStats,
        given: &[GivenAnswer],
        outcome: &super::dial::DialOutcome,
        report: &kuulo::campaign::Report,
        stored_answers: u64,
    ) -> Checks {
        let disposition = |name: &str| outcome.summary.dispositions.get(name).copied().unwrap_or(0);
        Checks {
            rows: vec![
                ("calls", None, stats.calls, outcome.stats.placed),
                ("busy", Some(drawn.busy), stats.busy, disposition("busy")),
                (
                    "no answer",
                    Some(drawn.no_answer),
                    stats.no_answer,
                    disposition("no_answer"),
                ),
                (
                    "answered",
                    Some(drawn.answered),
                    stats.answered,
                    report.funnel.reached,
                ),
                (
                    "declined",
                    Some(drawn.declined),
                    stats.declined,
                    report.funnel.declined,
                ),
                (
                    "hung up",
                    Some(drawn.hang_up_midway),
                    stats.hung_up,
                    disposition("partial") + disposition("abandoned"),
                ),
                (
                    "completed",
                    Some(drawn.complete()),
                    stats.answered - stats.declined - stats.hung_up,
                    report.funnel.completed,
                ),
                ("answers", None, given.len() as u64, stored_answers),
            ],
        }
    }

    fn all_agree(&self) -> bool {
        self.rows
            .iter()
            .all(|(_, drawn, theirs, ours)| theirs == ours && drawn.is_none_or(|d| d == *theirs))
    }

    fn print(&self, shares: Shares) {
        println!("\nwhat the seed drew, what the residents did, what the store holds:");
        println!(
            "  {:<10} {:>7} {:>9} {:>7}  {:>6} {:>6}",
            "", "drawn", "residents", "stored", "share", "set"
        );
        let calls = self.rows[0].2.max(1) as f64;
        let answered = self.rows[3].2.max(1) as f64;
        for (name, drawn, theirs, ours) in &self.rows {
            let share = match *name {
                "busy" => Some((*theirs as f64 / calls, shares.busy)),
                "no answer" => Some((*theirs as f64 / calls, shares.no_answer)),
                "declined" => Some((*theirs as f64 / answered, shares.decline)),
                "hung up" => Some((*theirs as f64 / answered, shares.hang_up_midway)),
                _ => None,
            };
            let share = share.map_or(String::from("              "), |(got, set)| {
                format!("{:>5.1}% {:>5.1}%", got * 100.0, set * 100.0)
            });
            let agree = theirs == ours && drawn.is_none_or(|d| d == *theirs);
            let drawn = drawn.map_or(String::from("-"), |d| d.to_string());
            let mark = if agree { "ok" } else { "MISMATCH" };
            println!("  {name:<10} {drawn:>7} {theirs:>9} {ours:>7}  {share}  {mark}");
        }
    }

    fn json(&self, stats: &PopulationStats, elapsed: Duration) -> String {
        let rows: serde_json::Map<String, serde_json::Value> = self
            .rows
            .iter()
            .map(|(name, drawn, theirs, ours)| {
                (
                    name.replace(' ', "_"),
                    serde_json::json!({ "drawn": drawn, "residents": theirs, "stored": ours }),
                )
            })
            .collect();
        serde_json::json!({
            "agree": self.all_agree(),
            "elapsed_secs": elapsed.as_secs_f64(),
            "checks": rows,
            "keys": stats.keys,
            "voice_answers": stats.voice_answers,
            "refused_full": stats.refused_full,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each version of the script in `dir` comes from, as the engine
    /// will load it: `(prompt, language, recorded?)`.
    fn sources(dir: &Path) -> Vec<(String, String, bool)> {
        let report = kuulo::ivr::check(dir.join("survey.toml"));
        assert!(!report.has_errors(), "{report}");
        let script = report.script.unwrap();
        let mut out = Vec::new();
        for prompt in script.prompts.values() {
            for (language, source) in &prompt.versions {
                if let PromptSource::Recorded(path) = source {
                    assert!(
                        path.starts_with(dir),
                        "{} is outside the demo folder",
                        path.display()
                    );
                }
                out.push((
                    prompt.id.to_string(),
                    language.to_string(),
                    matches!(source, PromptSource::Recorded(_)),
                ));
            }
        }
        out
    }

    #[test]
    fn the_demo_plays_the_committed_recordings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("survey.toml"), SURVEY).unwrap();
        // A copy left by an older demo, for a prompt since renamed.
        let stale = dir.path().join("prompts/fi/renamed.wav");
        std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
        std::fs::write(&stale, b"old").unwrap();

        let copied = install_recordings(Path::new(SURVEY_SOURCE_DIR), dir.path()).unwrap();
        let versions = sources(dir.path());
        assert_eq!(
            copied,
            versions.len(),
            "every prompt in every language has its recording"
        );
        for (prompt, language, recorded) in &versions {
            assert!(*recorded, "{prompt} ({language}) is left to espeak-ng");
        }
        assert!(!stale.exists(), "an older demo's copies are cleared");
    }

    #[test]
    fn without_its_source_tree_the_demo_speaks_the_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("survey.toml"), SURVEY).unwrap();
        let moved = dir.path().join("no-source-tree");
        assert_eq!(install_recordings(&moved, dir.path()).unwrap(), 0);
        assert!(sources(dir.path()).iter().all(|(_, _, recorded)| !recorded));
    }

    #[test]
    fn the_survey_folder_as_demo_folder_keeps_its_recordings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("survey.toml"), SURVEY).unwrap();
        let copied = install_recordings(Path::new(SURVEY_SOURCE_DIR), dir.path()).unwrap();
        // The same folder, spelt differently, as `--dir` might give it.
        let same = dir.path().join(".");
        assert_eq!(install_recordings(dir.path(), &same).unwrap(), copied);
        assert_eq!(recorded_files(dir.path()).len(), copied);
    }

    #[test]
    fn contact_list_imports_with_the_intended_exclusions() {
        let csv = contact_list(1000, 7);
        let list = kuulo::campaign::parse_contacts(csv.as_bytes()).unwrap();
        assert_eq!(list.rejects.len(), 10, "typing errors rejected");
        // 1,000 residents + 20 minors + 20 businesses + 15 bans; the five
        // duplicates merge into existing contacts.
        assert_eq!(list.contacts.len(), 1055);
        let exclusions = Exclusions::new(ExclusionPolicy::default());
        let today = chrono::Local::now().date_naive();
        let eligible = list
            .contacts
            .iter()
            .filter(|c| exclusions.check(c, today).is_none())
            .count();
        assert_eq!(eligible, 1000);
        assert_eq!(csv, contact_list(1000, 7), "the same seed, the same list");
    }
}
