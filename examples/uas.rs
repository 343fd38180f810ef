//! A SIP UAS that answers every call: the smallest embedding of Kuulo's
//! user agent, and the peer that sipp's `-sn uac` runs against in CI.
//!
//! ```text
//! cargo run --release --example uas -- --bind 127.0.0.1:5080 --hold-secs 2
//! ```
//!
//! It answers each INVITE with 180 and 200 OK (PCMU and telephone-event
//! SDP), sends BYE after the hold time unless the caller hangs up first, and
//! prints a summary when stopped (Ctrl-C, `--max-calls` or `--run-secs`).

#[path = "support/mod.rs"]
mod support;

use clap::Parser;
use kuulo::media::sdp::MediaConfig;
use kuulo::sip::digest::DigestCredentials;
use kuulo::sip::driver::{self, Application, SipSockets};
use kuulo::sip::message::Uri;
use kuulo::sip::ua::{CallHandle, EndReason, UaConfig, UaEvent, UserAgent};
use kuulo::sip::Peer;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Answer every SIP call, hang up after a hold time")]
struct Args {
    /// Address to listen on (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:5080")]
    bind: SocketAddr,
    /// Seconds to hold an answered call before sending BYE (0: never).
    #[arg(long, default_value_t = 2.0)]
    hold_secs: f64,
    /// Exit after this many calls have ended.
    #[arg(long)]
    max_calls: Option<u64>,
    /// Exit after this many seconds.
    #[arg(long)]
    run_secs: Option<f64>,
    /// First RTP port advertised in the SDP (even ports, rotating).
    #[arg(long, default_value_t = 20000)]
    rtp_base: u16,
    /// Register at this registrar (IP:PORT) and keep the binding fresh.
    #[arg(long)]
    registrar: Option<SocketAddr>,
    /// Address of record to register.
    #[arg(long, default_value = "sip:survey@kuulo.invalid")]
    aor: String,
    /// Requested registration lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    /// Digest user name for the registrar's challenge.
    #[arg(long)]
    user: Option<String>,
    /// Digest password.
    #[arg(long)]
    password: Option<String>,
}

#[derive(Default, Debug)]
struct Counts {
    incoming: u64,
    confirmed: u64,
    local_bye: u64,
    remote_bye: u64,
    cancelled: u64,
    no_ack: u64,
    registered: u64,
    registration_failed: u64,
    other: u64,
}

struct Uas {
    args: Args,
    /// Each call's media settings, kept to answer re-offers.
    media: HashMap<CallHandle, MediaConfig>,
    hangups: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    counts: Counts,
    ended: u64,
    stop_at: Option<Instant>,
    next_port: u16,
}

impl Uas {
    fn rtp_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port >= 60000 {
            self.args.rtp_base
        } else {
            port + 2
        };
        port
    }
}

impl Application for Uas {
    fn on_event(&mut self, ua: &mut UserAgent, now: Instant, event: UaEvent) {
        match event {
            UaEvent::Incoming { call, offer, .. } => {
                self.counts.incoming += 1;
                let mut cfg = support::media_config(self.args.bind.ip(), self.rtp_port(), call.0);
                // An INVITE without SDP gets our offer in the 200; the
                // answer comes in the ACK (RFC 3261 13.2.1).
                let sdp = match &offer {
                    Some(o) => support::answer(o, &cfg),
                    None => Ok(support::offer(&cfg)),
                };
                match sdp {
                    Ok(sdp) => {
                        ua.ring(now, call, None);
                        ua.answer(now, call, sdp);
                        cfg.session_version += 1;
                        self.media.insert(call, cfg);
                    }
                    Err(why) => {
                        eprintln!("uas: refusing a call: {why}");
                        ua.reject(now, call, 488);
                    }
                }
            }
            UaEvent::Reoffer { call, tx, offer } => {
                // Hold, resume or session refresh: answer the new offer
                // (a sendonly offer gets a recvonly answer), or repeat our
                // session when the request carried none.
                if let Some(cfg) = self.media.get_mut(&call) {
                    let sdp = match &offer {
                        Some(o) => support::answer(o, cfg).unwrap_or_else(|_| support::offer(cfg)),
                        None => support::offer(cfg),
                    };
                    cfg.session_version += 1;
                    ua.answer_reoffer(now, call, tx, sdp);
                }
            }
            UaEvent::Confirmed { call, .. } => {
                self.counts.confirmed += 1;
                if self.args.hold_secs > 0.0 {
                    let at = now + Duration::from_secs_f64(self.args.hold_secs);
                    self.hangups.push(Reverse((at, call)));
                }
            }
            UaEvent::Ended { call, reason } => {
                self.ended += 1;
                self.media.remove(&call);
                match reason {
                    EndReason::LocalBye => self.counts.local_bye += 1,
                    EndReason::RemoteBye => self.counts.remote_bye += 1,
                    EndReason::CancelledByPeer => self.counts.cancelled += 1,
                    EndReason::NoAck => self.counts.no_ack += 1,
                    _ => self.counts.other += 1,
                }
            }
            UaEvent::Registered { expires, .. } => {
                self.counts.registered += 1;
                eprintln!("uas: registered for {expires} s");
            }
            UaEvent::RegistrationFailed { status, .. } => {
                self.counts.registration_failed += 1;
                eprintln!("uas: registration failed with {status}");
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, ua: &mut UserAgent, now: Instant) {
        while let Some(Reverse((at, call))) = self.hangups.peek().copied() {
            if at > now {
                break;
            }
            self.hangups.pop();
            ua.hangup(now, call);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let next = self.hangups.peek().map(|Reverse((at, _))| *at);
        [next, self.stop_at].into_iter().flatten().min()
    }

    fn is_done(&self, ua: &UserAgent) -> bool {
        let max_reached =
            self.args.max_calls.is_some_and(|m| self.ended >= m) && ua.call_count() == 0;
        let time_up = self.stop_at.is_some_and(|t| Instant::now() >= t);
        max_reached || time_up
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let sockets = SipSockets::bind(args.bind, true).await?;
    let local = sockets.local_addr()?;
    let mut config = UaConfig::new(local);
    config.auto_answer_reoffer = false;
    if let (Some(user), Some(password)) = (&args.user, &args.password) {
        config.credentials = Some(DigestCredentials {
            username: user.clone(),
            password: password.clone(),
            realm: None,
        });
    }
    let mut ua = UserAgent::new(config);
    if let Some(registrar) = args.registrar {
        let uri = Uri::parse(&format!("sip:{registrar}")).expect("an IP:PORT makes a valid URI");
        ua.register(
            Instant::now(),
            uri,
            &args.aor,
            Peer::udp(registrar),
            args.expires,
        );
    }
    eprintln!("uas: listening on {local} (UDP and TCP)");
    let mut app = Uas {
        stop_at: args
            .run_secs
            .map(|s| Instant::now() + Duration::from_secs_f64(s)),
        next_port: args.rtp_base,
        args,
        media: HashMap::new(),
        hangups: BinaryHeap::new(),
        counts: Counts::default(),
        ended: 0,
    };
    driver::run(sockets, &mut ua, &mut app, support::ctrl_c()).await?;
    let c = &app.counts;
    let stats = ua.endpoint().stats();
    println!(
        "uas summary: incoming={} confirmed={} local_bye={} remote_bye={} cancelled={} no_ack={} other={} registered={} registration_failed={} malformed={} bad_requests_answered={} retrans_absorbed={} cpu_s={:.2} peak_rss_kib={}",
        c.incoming, c.confirmed, c.local_bye, c.remote_bye, c.cancelled, c.no_ack, c.other, c.registered, c.registration_failed,
        stats.malformed, stats.bad_requests_answered, stats.retransmissions_absorbed, support::cpu_seconds(), support::peak_rss_kib()
    );
    Ok(())
}
