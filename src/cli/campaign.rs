//! `kuulo campaign run`: import a contact list, apply the exclusions, and
//! call the residents through a SIP trunk at the given pace and hours,
//! running the survey on every answered call. Stopped with Ctrl-C (or
//! killed), the same command resumes where it stopped: the queue, the
//! attempts and the answers are in the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::{NaiveDate, Weekday};
use kuulo::campaign::exclusions::{queue_contacts, read_ban_list, QueueSummary};
use kuulo::campaign::{
    parse_contacts, CallingHours, CampaignId, DialerConfig, ExclusionPolicy, Exclusions,
    RetryPolicy, Store, Window,
};
use kuulo::media::session::IdleMode;
use kuulo::sip::digest::DigestCredentials;
use kuulo::sip::message::Uri;
use kuulo::sip::ua::uri_socket_addr;

use super::dial::{dial, DialOutcome, DialPlan, ProgressStyle};
use super::{count, exit, fail, runtime};

/// Arguments of `kuulo campaign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CampaignCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CampaignCommand {
    /// Import contacts (once) and call them; run again to resume.
    Run(RunArgs),
}

/// Arguments of `kuulo campaign run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The survey script (a `survey.toml` file).
    #[arg(long)]
    script: PathBuf,
    /// Contacts to import (CSV: number; birth date or age; person or
    /// business; language; marketing ban). Numbers already in the campaign
    /// are left as they are, so giving it again on a resume is harmless.
    #[arg(long, value_name = "CSV")]
    contacts: Option<PathBuf>,
    /// Numbers that must not be called (one per line), on top of the
    /// contacts' own marketing-ban flag.
    #[arg(long, value_name = "FILE")]
    ban_list: Option<PathBuf>,
    /// Where rows that could not be imported go, with line and reason
    /// [default: `<db>.rejects.csv`].
    #[arg(long, value_name = "CSV")]
    rejects: Option<PathBuf>,
    /// The SIP trunk: calls go to `sip:<E.164>@host:port` via this address.
    #[arg(long, value_name = "SIP-URI")]
    trunk: String,
    /// Results store (SQLite).
    #[arg(long, value_name = "FILE")]
    db: PathBuf,
    /// Calls started per second.
    #[arg(long, default_value_t = 5.0)]
    cps: f64,
    /// Most calls at once.
    #[arg(long, default_value_t = 100)]
    max_concurrent: u32,
    /// The rate grows from 0 to --cps over this many seconds.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    ramp_up: f64,
    /// Calling hours in the residents' time zone, e.g. `09:00-20:00` or
    /// `09:00-12:00,16:00-20:00`; `always` for any time.
    #[arg(long, default_value = "09:00-20:00")]
    hours: String,
    /// Days on which to call, e.g. `mon-fri` or `mon,tue,sat`.
    #[arg(long, default_value = "mon-fri")]
    days: String,
    /// Dates on which not to call, e.g. `2026-12-24,2026-12-25`.
    #[arg(long, value_delimiter = ',', value_name = "DATES")]
    holidays: Vec<NaiveDate>,
    /// The residents' time zone.
    #[arg(long, default_value = "Europe/Helsinki")]
    tz: chrono_tz::Tz,
    /// Most attempts per contact, the first included.
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// Wait before calling a busy number again (e.g. `10m`); `never` for
    /// no retry. Each further retry waits twice as long.
    #[arg(long, default_value = "10m", value_parser = parse_retry)]
    retry_busy: RetryDelay,
    /// Wait before calling again after no answer.
    #[arg(long, default_value = "2h", value_parser = parse_retry)]
    retry_no_answer: RetryDelay,
    /// Wait before calling again after a failure that may pass (5xx, 408).
    #[arg(long, default_value = "30m", value_parser = parse_retry)]
    retry_failed: RetryDelay,
    /// Cancel calls still ringing after this many seconds (no answer).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    ring_secs: f64,
    /// The caller ID: the city's real inbound survey number (E.164), sent
    /// in From and P-Asserted-Identity.
    #[arg(long, value_name = "E164")]
    caller_id: Option<String>,
    /// The caller's display name, e.g. `Oulun kaupunki`.
    #[arg(long, value_name = "NAME")]
    caller_name: Option<String>,
    /// Digest user name for the trunk.
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Digest password for the trunk.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Local SIP address; use the address the trunk can reach.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Local RTP address [default: the --bind address, a free even port].
    #[arg(long, value_name = "ADDR")]
    rtp: Option<SocketAddr>,
    /// A pair of local RTP ports per call from this range (e.g.
    /// 10000-20000, as Asterisk's rtpstart/rtpend) instead of one pair
    /// for every call; pairs already in use are skipped.
    #[arg(long, value_name = "FIRST-LAST", value_parser = super::runtime::parse_rtp_ports)]
    rtp_ports: Option<super::runtime::RtpPortRange>,
    /// Folder for the voice answers [default: `recordings` next to --db].
    #[arg(long, value_name = "DIR")]
    recordings: Option<PathBuf>,
    /// Folder of synthesised prompts [default: $XDG_CACHE_HOME/kuulo/tts].
    #[arg(long, value_name = "DIR")]
    tts_cache: Option<PathBuf>,
    /// What to send between prompts: `silence` (comfort audio, which keeps
    /// NATs and carriers' media timers happy) or `none` (no packets; for
    /// callees such as `kuulo residents` that listen for the pause).
    #[arg(long, default_value = "silence", value_parser = ["silence", "none"])]
    idle_audio: String,
    /// Which DTMF calls listen to: `auto` (RFC 4733 events; tones in the
    /// audio until the first event, or all call when telephone-event was
    /// not negotiated), `negotiated` (as Asterisk's dtmf_mode=auto),
    /// `rfc4733`, `inband`, or `both` (for trunks that negotiate events but
    /// send tones).
    #[arg(long, default_value = "auto", value_parser = super::runtime::parse_dtmf_detect)]
    dtmf_detect: kuulo::media::session::DtmfDetectMode,

    /// Run the engine thread with real-time priority (SCHED_FIFO 10), as
    /// Asterisk's -p and FreeSWITCH's -rp do: media ticks stay on time
    /// when other processes load the machine. Needs root or CAP_SYS_NICE.
    #[arg(long)]
    realtime: bool,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

/// Why a campaign cannot start or import.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{0:?} is not a SIP URI (try sip:trunk.example.com:5060 or sip:127.0.0.1:5070)")]
    BadTrunk(String),
    #[error("the trunk's host in {0} is not an IP address; name resolution is not built in yet, give its IP")]
    TrunkNotIp(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the rejects file {path}: {source}")]
    Rejects {
        path: PathBuf,
        source: kuulo::campaign::ImportError,
    },
    #[error("{path}: {source}")]
    Import {
        path: PathBuf,
        source: kuulo::campaign::ImportError,
    },
    #[error("{path}: {source}")]
    BanList {
        path: PathBuf,
        source: kuulo::campaign::exclusions::BanListError,
    },
    #[error("--days {0:?}: give days such as mon-fri or mon,wed,sat")]
    Days(String),
    #[error(transparent)]
    Hours(#[from] kuulo::campaign::pacing::WindowParseError),
    #[error("--cps must be above 0 and --max-concurrent at least 1")]
    Pace,
    #[error(transparent)]
    Store(#[from] kuulo::campaign::StoreError),
    #[error(transparent)]
    Dial(#[from] super::dial::DialError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs `kuulo campaign ...`.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        CampaignCommand::Run(args) => match run_campaign(args) {
            Ok(code) => code,
            Err(e) => fail(&e, exit::TROUBLE),
        },
    }
}

fn run_campaign(args: RunArgs) -> Result<ExitCode, CampaignError> {
    let (trunk, trunk_host) = parse_trunk(&args.trunk)?;
    if args.cps.is_nan() || args.cps <= 0.0 || args.max_concurrent == 0 {
        return Err(CampaignError::Pace);
    }
    let hours = calling_hours(&args)?;
    let mut exclusions = Exclusions::new(ExclusionPolicy::default());
    if let Some(path) = &args.ban_list {
        let file = std::fs::File::open(path).map_err(|source| CampaignError::Read {
            path: path.clone(),
            source,
        })?;
        let numbers = read_ban_list(file).map_err(|source| CampaignError::BanList {
            path: path.clone(),
            source,
        })?;
        exclusions.add_ban_list(numbers);
    }
    let prepared = match runtime::prepare(
        &args.script,
        &args.db,
        args.recordings.clone(),
        args.tts_cache.clone(),
    ) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if let Some(contacts) = &args.contacts {
        let rejects = args
            .rejects
            .clone()
            .unwrap_or_else(|| with_suffix(&args.db, ".rejects.csv"));
        let mut store = Store::open(&args.db)?;
        let today = hours.local_date(std::time::SystemTime::now());
        import(
            &mut store,
            prepared.campaign,
            contacts,
            &rejects,
            &exclusions,
            today,
        )?;
    }
    let from_uri = args
        .caller_id
        .as_ref()
        .map(|n| format!("<sip:{n}@{trunk_host}>"));
    let plan =
        DialPlan {
            trunk,
            trunk_host,
            more_trunks: Vec::new(),
            bind: args.bind,
            rtp: args
                .rtp
                .unwrap_or_else(|| SocketAddr::new(args.bind.ip(), 0)),
            rtp_ports: args.rtp_ports,
            dialer: DialerConfig {
                calls_per_second: args.cps,
                burst: 1,
                ramp_up: Duration::from_secs_f64(args.ramp_up.max(0.0)),
                max_concurrent: args.max_concurrent,
                trunks: Vec::new(),
                hours,
                retry: RetryPolicy {
                    max_attempts: args.max_attempts.max(1),
                    busy: args.retry_busy.0,
                    no_answer: args.retry_no_answer.0,
                    failed: args.retry_failed.0,
                    ..RetryPolicy::default()
                },
            },
            exclusions,
            ring_timeout: Duration::from_secs_f64(args.ring_secs.max(1.0)),
            from: from_uri.as_ref().map(|uri| match &args.caller_name {
                Some(name) => format!("\"{}\" {uri}", name.replace('"', "'")),
                None => uri.clone(),
            }),
            asserted_identity: from_uri,
            credentials: args.user.clone().zip(args.password.clone()).map(
                |(username, password)| DigestCredentials {
                    username,
                    password,
                    realm: None,
                },
            ),
            media_idle: if args.idle_audio == "none" {
                IdleMode::Nothing
            } else {
                IdleMode::Silence
            },
            seed: runtime::seed(),
            progress: if args.quiet {
                ProgressStyle::Quiet
            } else {
                ProgressStyle::for_stderr()
            },
            active: None,
            realtime: args.realtime,
            dtmf_detect: args.dtmf_detect,
        };
    let campaign = prepared.campaign;
    let rt = runtime::tokio().map_err(CampaignError::Runtime)?;
    let outcome = rt.block_on(dial(prepared, &args.db, plan))?;
    print_outcome(&outcome);
    let store = Store::open(&args.db)?;
    match kuulo::campaign::Report::build(&store, campaign) {
        Ok(report) => println!("\n{report}"),
        Err(e) => eprintln!("kuulo: cannot build the report: {e}"),
    }
    if !outcome.finished {
        println!(
            "{} still to call: run the same command again to resume.",
            count(
                (outcome.stats.waiting + outcome.stats.active) as usize,
                "contact"
            )
        );
    }
    let failed_writes = outcome.dialler_errors + outcome.store_errors;
    Ok(if failed_writes > 0 {
        eprintln!(
            "kuulo: {} to the results store failed (see the log above)",
            count(failed_writes as usize, "write")
        );
        ExitCode::from(exit::TROUBLE)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the run's dispositions.
pub fn print_outcome(outcome: &DialOutcome) {
    let s = &outcome.summary;
    println!(
        "calls: {} placed, {} answered, peak {} at once, in {:.0} s{}",
        outcome.stats.placed,
        s.started,
        outcome.peak_active,
        outcome.elapsed.as_secs_f64(),
        if outcome.interrupted {
            " (stopped by the user)"
        } else {
            ""
        }
    );
    for (disposition, n) in &s.dispositions {
        println!("  {disposition:<16} {n}");
    }
}

/// Imports `contacts` into the campaign's queue, writing rejected rows to
/// `rejects`, and prints what happened.
pub fn import(
    store: &mut Store,
    campaign: CampaignId,
    contacts: &Path,
    rejects: &Path,
    exclusions: &Exclusions,
    today: NaiveDate,
) -> Result<QueueSummary, CampaignError> {
    let file = std::fs::File::open(contacts).map_err(|source| CampaignError::Read {
        path: contacts.to_owned(),
        source,
    })?;
    let list =
        parse_contacts(std::io::BufReader::new(file)).map_err(|source| CampaignError::Import {
            path: contacts.to_owned(),
            source,
        })?;
    let summary = queue_contacts(store, campaign, &list.contacts, exclusions, today)?;
    if !list.rejects.is_empty() {
        let out = std::fs::File::create(rejects).map_err(|source| CampaignError::Read {
            path: rejects.to_owned(),
            source,
        })?;
        list.write_rejects(out)
            .map_err(|source| CampaignError::Rejects {
                path: rejects.to_owned(),
                source,
            })?;
    }
    println!(
        "imported {}: {} to call, {} excluded, {} rejected{}{}",
        contacts.display(),
        summary.queued,
        summary.excluded.total(),
        list.rejects.len(),
        if list.rejects.is_empty() {
            String::new()
        } else {
            format!(" (see {})", rejects.display())
        },
        if summary.already_queued > 0 {
            format!(", {} already in the campaign", summary.already_queued)
        } else {
            String::new()
        }
    );
    for (reason, n) in &summary.excluded.0 {
        println!("  excluded: {reason:<20} {n}");
    }
    Ok(summary)
}

fn parse_trunk(trunk: &str) -> Result<(SocketAddr, String), CampaignError> {
    let uri = Uri::parse(trunk).map_err(|_| CampaignError::BadTrunk(trunk.into()))?;
    let sip = uri
        .as_sip()
        .ok_or_else(|| CampaignError::BadTrunk(trunk.into()))?;
    let addr = uri_socket_addr(&uri).ok_or_else(|| CampaignError::TrunkNotIp(trunk.into()))?;
    let host = match sip.port {
        Some(port) => format!("{}:{port}", sip.host),
        None => sip.host.to_string(),
    };
    Ok((addr, host))
}

fn calling_hours(args: &RunArgs) -> Result<CallingHours, CampaignError> {
    if args.hours.eq_ignore_ascii_case("always") {
        let mut always = CallingHours::always(args.tz);
        always.holidays = args.holidays.iter().copied().collect();
        return Ok(always);
    }
    let windows = args
        .hours
        .split(',')
        .map(|w| w.parse::<Window>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CallingHours {
        tz: args.tz,
        windows,
        weekdays: parse_days(&args.days).ok_or_else(|| CampaignError::Days(args.days.clone()))?,
        holidays: args.holidays.iter().copied().collect(),
    })
}

/// `mon-fri`, `mon,wed,sat`, `sat-sun`.
fn parse_days(days: &str) -> Option<Vec<Weekday>> {
    let mut out = Vec::new();
    for part in days.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (mut d, end) = (a.trim().parse::<Weekday>().ok()?, b.trim().parse().ok()?);
                loop {
                    out.push(d);
                    if d == end {
                        break;
                    }
                    d = d.succ();
                }
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    out.dedup();
    Some(out)
}

/// A wait before a retry; `None` is `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RetryDelay(Option<Duration>);

/// `90s`, `10m`, `2h`, `1d`, a bare number of seconds, or `never`.
fn parse_retry(s: &str) -> Result<RetryDelay, String> {
    if s.eq_ignore_ascii_case("never") {
        return Ok(RetryDelay(None));
    }
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 10m, 2h or never"))?;
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("{s:?}: the unit must be s, m, h or d")),
    };
    if n.is_nan() || n < 0.0 {
        return Err(format!("{s:?} is negative"));
    }
    Ok(RetryDelay(Some(Duration::from_secs_f64(n * scale))))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_durations_parse() {
        let secs = |n| Ok(RetryDelay(Some(Duration::from_secs(n))));
        assert_eq!(parse_retry("90s"), secs(90));
        assert_eq!(parse_retry("10m"), secs(600));
        assert_eq!(parse_retry("2h"), secs(7200));
        assert_eq!(parse_retry("45"), secs(45));
        assert_eq!(parse_retry("never"), Ok(RetryDelay(None)));
        assert!(parse_retry("soon").is_err());
        assert!(parse_retry("5y").is_err());
        assert!(parse_retry("-1m").is_err());
    }

    #[test]
    fn days_parse_as_ranges_and_lists() {
        use Weekday::*;
        assert_eq!(parse_days("mon-fri"), Some(vec![Mon, Tue, Wed, Thu, Fri]));
        assert_eq!(parse_days("sat,sun"), Some(vec![Sat, Sun]));
        assert_eq!(parse_days("fri-mon"), Some(vec![Fri, Sat, Sun, Mon]));
        assert_eq!(parse_days("someday"), None);
    }

    #[test]
    fn trunk_gives_address_and_request_uri_host() {
        let (addr, host) = parse_trunk("sip:127.0.0.1:5070").unwrap();
        assert_eq!(addr, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(host, "127.0.0.1:5070");
        assert!(matches!(
            parse_trunk("sip:trunk.example.com"),
            Err(CampaignError::TrunkNotIp(_))
        ));
        assert!(matches!(
            parse_trunk("mailto:x"),
            Err(CampaignError::BadTrunk(_))
        ));
    }
}
