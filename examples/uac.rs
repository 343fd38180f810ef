//! A SIP UAC that places a batch of calls at a given rate and reports how
//! they went: the dialler side of Kuulo's user agent in one file.
//!
//! ```text
//! cargo run --release --example uac -- --target sip:survey@127.0.0.1:5090 \
//!     --calls 200 --rate 50 --hold-secs 1 [--ring-secs 20] [--user U --password P]
//! ```
//!
//! Calls still ringing after `--ring-secs` are cancelled. The last line is a
//! summary: attempted, answered, busy, no answer, failed, and the setup time
//! (INVITE sent to 2xx received) at p50 and p99. The exit code is 1 when any
//! call failed.

#[path = "support/mod.rs"]
mod support;

use clap::Parser;
use kuulo::sip::digest::DigestCredentials;
use kuulo::sip::driver::{self, Application, SipSockets};
use kuulo::sip::message::Uri;
use kuulo::sip::ua::{
    uri_socket_addr, CallHandle, CallState, EndReason, UaConfig, UaEvent, UserAgent,
};
use kuulo::sip::{Peer, Transport};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Place SIP calls at a rate and summarise the outcome")]
struct Args {
    /// The Request-URI to call.
    #[arg(long)]
    target: String,
    /// Where to send the INVITEs (default: the target's host and port).
    #[arg(long)]
    proxy: Option<SocketAddr>,
    /// Local address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Number of calls.
    #[arg(long, default_value_t = 1)]
    calls: u64,
    /// New calls per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds to hold an answered call before BYE.
    #[arg(long, default_value_t = 1.0)]
    hold_secs: f64,
    /// Cancel calls still ringing after this many seconds.
    #[arg(long, default_value_t = 20.0)]
    ring_secs: f64,
    /// Digest user name for 401/407 challenges.
    #[arg(long)]
    user: Option<String>,
    /// Digest password.
    #[arg(long)]
    password: Option<String>,
    /// Caller ID: the From header value.
    #[arg(long)]
    from: Option<String>,
    /// P-Asserted-Identity to send.
    #[arg(long)]
    pai: Option<String>,
    /// Use TCP instead of UDP.
    #[arg(long)]
    tcp: bool,
    /// Keep the sockets open this long after the last call ended (a peer
    /// such as sipp counts a TCP close during its final wait as a failure).
    #[arg(long, default_value_t = 0.0)]
    linger_secs: f64,
}

#[derive(Default, Debug)]
struct Outcome {
    answered: u64,
    busy: u64,
    no_answer: u64,
    failed: u64,
}

struct Uac {
    args: Args,
    target: Uri,
    destination: Peer,
    interval: Duration,
    next_call_at: Instant,
    placed: u64,
    started: HashMap<CallHandle, Instant>,
    setup: Vec<Duration>,
    hangups: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    ring_limits: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    outcome: Outcome,
    failures: HashMap<String, u64>,
    /// When the last call and its transactions finished; the sockets stay
    /// open `--linger-secs` past it.
    all_done_at: Option<Instant>,
}

impl Application for Uac {
    fn on_event(&mut self, _ua: &mut UserAgent, now: Instant, event: UaEvent) {
        match event {
            UaEvent::Answered { call, .. } => {
                if let Some(t0) = self.started.get(&call) {
                    self.setup.push(now - *t0);
                }
                self.outcome.answered += 1;
                let at = now + Duration::from_secs_f64(self.args.hold_secs);
                self.hangups.push(Reverse((at, call)));
            }
            UaEvent::Ended { call, reason } => {
                self.started.remove(&call);
                match reason {
                    EndReason::LocalBye | EndReason::RemoteBye | EndReason::NoAck => {}
                    EndReason::Rejected {
                        status: 486 | 600, ..
                    } => self.outcome.busy += 1,
                    EndReason::Rejected {
                        status: 408 | 480 | 487,
                        ..
                    }
                    | EndReason::Cancelled => self.outcome.no_answer += 1,
                    other => {
                        self.outcome.failed += 1;
                        *self.failures.entry(format!("{other:?}")).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, ua: &mut UserAgent, now: Instant) {
        while self.placed < self.args.calls && now >= self.next_call_at {
            let port = 30000 + (self.placed % 15000) as u16 * 2;
            let sdp = support::offer(&support::media_config(
                self.args.bind.ip(),
                port,
                self.placed,
            ));
            let call = ua.invite(now, self.target.clone(), self.destination, sdp);
            self.started.insert(call, now);
            self.ring_limits.push(Reverse((
                now + Duration::from_secs_f64(self.args.ring_secs),
                call,
            )));
            self.placed += 1;
            self.next_call_at += self.interval;
        }
        while let Some(Reverse((at, call))) = self.hangups.peek().copied() {
            if at > now {
                break;
            }
            self.hangups.pop();
            ua.hangup(now, call);
        }
        while let Some(Reverse((at, call))) = self.ring_limits.peek().copied() {
            if at > now {
                break;
            }
            self.ring_limits.pop();
            if matches!(
                ua.call_state(call),
                Some(CallState::Calling | CallState::Early)
            ) {
                ua.hangup(now, call);
            }
        }
        self.check_all_done(ua, now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let next_call = (self.placed < self.args.calls).then_some(self.next_call_at);
        let h = self.hangups.peek().map(|Reverse((at, _))| *at);
        let r = self.ring_limits.peek().map(|Reverse((at, _))| *at);
        let linger = self.all_done_at.map(|at| at + self.linger());
        [next_call, h, r, linger].into_iter().flatten().min()
    }

    fn is_done(&self, _ua: &UserAgent) -> bool {
        self.all_done_at
            .is_some_and(|at| Instant::now() >= at + self.linger())
    }
}

impl Uac {
    fn linger(&self) -> Duration {
        Duration::from_secs_f64(self.args.linger_secs.max(0.0))
    }

    /// Notes the moment every call and its last transaction finished.
    fn check_all_done(&mut self, ua: &UserAgent, now: Instant) {
        if self.all_done_at.is_none()
            && self.placed >= self.args.calls
            && ua.call_count() == 0
            && ua.endpoint().awaiting_final_responses() == 0
        {
            self.all_done_at = Some(now);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("uac: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let target = Uri::parse(&args.target)?;
    let dest_addr = match args.proxy {
        Some(p) => p,
        None => uri_socket_addr(&target)
            .ok_or("the target's host is not an IP address; give --proxy IP:PORT")?,
    };
    let transport = if args.tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let sockets = SipSockets::bind(args.bind, args.tcp).await?;
    let local = sockets.local_addr()?;
    let mut config = UaConfig::new(local);
    if let (Some(user), Some(password)) = (&args.user, &args.password) {
        config.credentials = Some(DigestCredentials {
            username: user.clone(),
            password: password.clone(),
            realm: None,
        });
    }
    if let Some(from) = &args.from {
        config.from = from.clone();
    }
    config.p_asserted_identity = args.pai.clone();
    let mut ua = UserAgent::new(config);
    let rate = args.rate.max(0.001);
    let mut app = Uac {
        target,
        destination: Peer {
            addr: dest_addr,
            transport,
        },
        interval: Duration::from_secs_f64(1.0 / rate),
        next_call_at: Instant::now(),
        placed: 0,
        started: HashMap::new(),
        setup: Vec::new(),
        hangups: BinaryHeap::new(),
        ring_limits: BinaryHeap::new(),
        outcome: Outcome::default(),
        failures: HashMap::new(),
        all_done_at: None,
        args,
    };
    let t0 = Instant::now();
    driver::run(sockets, &mut ua, &mut app, support::ctrl_c()).await?;
    let elapsed = app.all_done_at.map_or_else(|| t0.elapsed(), |at| at - t0);
    let o = &app.outcome;
    for (reason, n) in &app.failures {
        eprintln!("uac: {n} call(s) failed: {reason}");
    }
    println!(
        "uac summary: attempted={} answered={} busy={} no_answer={} failed={} setup_p50_ms={:.2} setup_p99_ms={:.2} elapsed_s={:.2}",
        app.placed,
        o.answered,
        o.busy,
        o.no_answer,
        o.failed,
        support::percentile_ms(&mut app.setup, 0.5),
        support::percentile_ms(&mut app.setup, 0.99),
        elapsed.as_secs_f64()
    );
    Ok(if o.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
