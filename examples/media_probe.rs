//! An RTP endpoint on a fixed port pair, for checking media against real
//! peers: it answers whoever sends RTP with a prompt (looped), records what
//! arrives, and prints every DTMF key it detects. The codec is the one the
//! first packet uses: PCMA if it is payload type 8, PCMU otherwise. The
//! peer's packets may be of any length (sipp's g711a.pcap sends 30 ms).
//!
//! ```text
//! cargo run --release --example media_probe -- --bind 127.0.0.1:5090 \
//!     --prompt examples/prompts/beep.wav [--record in.wav] [--dtmf-pt 101] [--run-secs 30]
//! ```
//!
//! Each key is one line: seconds since start, `dtmf`, the key, and how it
//! was detected, e.g. `12.340 dtmf 5 rfc4733`. RTCP is on the next port.

use clap::Parser;
use kuulo::media::prompt::EncodedPrompt;
use kuulo::media::recording::RecordingConfig;
use kuulo::media::sdp::{AudioCodec, Direction, Negotiated};
use kuulo::media::session::{DtmfSource, MediaSession, PacketKind, SessionConfig, SessionEvent};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

#[derive(Parser, Debug)]
#[command(about = "Answer RTP with a prompt, record it, print DTMF keys")]
struct Args {
    /// RTP address (RTCP uses the next port).
    #[arg(long, default_value = "127.0.0.1:5090")]
    bind: SocketAddr,
    /// WAV file to play back (any rate, width and channel count), looped.
    #[arg(long)]
    prompt: Option<PathBuf>,
    /// Write the received audio to this WAV file (8 kHz, 16-bit, mono).
    #[arg(long)]
    record: Option<PathBuf>,
    /// RTP payload type of RFC 4733 telephone-events.
    #[arg(long, default_value_t = 101)]
    dtmf_pt: u8,
    /// Exit after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    run_secs: Option<f64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Both laws up front: which one the peer uses is known only when its
    // first packet arrives, and encoding then would delay the answer.
    let prompts = match &args.prompt {
        Some(p) => Some((
            Arc::new(EncodedPrompt::from_wav(p, AudioCodec::Pcmu)?),
            Arc::new(EncodedPrompt::from_wav(p, AudioCodec::Pcma)?),
        )),
        None => None,
    };
    let mut prompt: Option<Arc<EncodedPrompt>> = None;
    let rtp = UdpSocket::bind(args.bind).await?;
    let rtcp_addr = SocketAddr::new(args.bind.ip(), args.bind.port() + 1);
    let rtcp = UdpSocket::bind(rtcp_addr).await?;
    eprintln!(
        "media_probe: RTP on {}, RTCP on {rtcp_addr}",
        rtp.local_addr()?
    );
    let start = Instant::now();
    let stop_at = args.run_secs.map(|s| start + Duration::from_secs_f64(s));
    let mut session: Option<MediaSession> = None;
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let now = Instant::now();
        if stop_at.is_some_and(|t| now >= t) {
            break;
        }
        let wake = [
            session.as_ref().and_then(MediaSession::poll_timeout),
            stop_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_secs(3600));
        tokio::select! {
            r = rtp.recv_from(&mut buf) => {
                let (n, from) = r?;
                let now = Instant::now();
                let s = session.get_or_insert_with(|| {
                    let codec = codec_of(&buf[..n]);
                    prompt = prompts.as_ref().map(|(u, a)| match codec {
                        AudioCodec::Pcma => a.clone(),
                        _ => u.clone(),
                    });
                    start_session(now, from, codec, &args, prompt.clone())
                });
                s.handle_receive(now, from, &buf[..n]);
            }
            r = rtcp.recv_from(&mut rtcp_buf) => {
                let (n, from) = r?;
                if let Some(s) = session.as_mut() {
                    s.handle_receive(Instant::now(), from, &rtcp_buf[..n]);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                if let Some(s) = session.as_mut() {
                    s.handle_timeout(Instant::now());
                }
            }
            _ = &mut ctrl_c => break,
        }
        if let Some(s) = session.as_mut() {
            pump(s, &rtp, &rtcp, start, &args, prompt.as_ref()).await;
        }
    }
    if let Some(mut s) = session {
        s.stop_recording();
        s.close(Instant::now());
        pump(&mut s, &rtp, &rtcp, start, &args, None).await;
        let st = s.stats();
        eprintln!("media_probe: {st:?}");
    }
    Ok(())
}

/// The G.711 law of an RTP packet: PCMA for payload type 8, else PCMU
/// (also when the first packet is a telephone-event).
fn codec_of(datagram: &[u8]) -> AudioCodec {
    match datagram.get(1).map(|b| b & 0x7f) {
        Some(8) => AudioCodec::Pcma,
        _ => AudioCodec::Pcmu,
    }
}

/// The first packet tells us where the peer is: answer there.
fn start_session(
    now: Instant,
    from: SocketAddr,
    codec: AudioCodec,
    args: &Args,
    prompt: Option<Arc<EncodedPrompt>>,
) -> MediaSession {
    let payload_type = if codec == AudioCodec::Pcma { 8 } else { 0 };
    let negotiated = Negotiated {
        codec,
        payload_type,
        telephone_event: Some(args.dtmf_pt),
        remote: from,
        direction: Direction::SendRecv,
        remote_ptime: None,
        remote_maxptime: None,
    };
    let config = SessionConfig::new(&negotiated, rand_seed());
    let mut s = MediaSession::new(now, config).expect("G.711 session config is valid");
    if let Some(p) = prompt {
        let _ = s.play(p);
    }
    if args.record.is_some() {
        s.start_recording(RecordingConfig {
            max_length: Duration::from_secs(3600),
            end_silence: Duration::from_secs(3600),
            no_speech_timeout: Duration::from_secs(3600),
            trim: false,
            ..RecordingConfig::default()
        });
    }
    eprintln!("media_probe: peer at {from}, {codec:?}");
    s
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

async fn pump(
    s: &mut MediaSession,
    rtp: &UdpSocket,
    rtcp: &UdpSocket,
    start: Instant,
    args: &Args,
    prompt: Option<&Arc<EncodedPrompt>>,
) {
    while let Some(t) = s.poll_transmit() {
        let socket = match t.kind {
            PacketKind::Rtp => rtp,
            PacketKind::Rtcp => rtcp,
        };
        let _ = socket.send_to(t.contents, t.destination).await;
    }
    while let Some(ev) = s.poll_event() {
        match ev {
            SessionEvent::Dtmf { digit, source, at } => {
                let how = match source {
                    DtmfSource::Rfc4733 => "rfc4733",
                    DtmfSource::InBand => "inband",
                };
                println!("{:.3} dtmf {digit} {how}", (at - start).as_secs_f64());
            }
            SessionEvent::PlaybackFinished => {
                if let Some(p) = prompt {
                    let _ = s.play(p.clone());
                }
            }
            SessionEvent::RecordingFinished(rec) => {
                if let Some(path) = &args.record {
                    match rec.write_wav(path) {
                        Ok(()) => eprintln!(
                            "media_probe: wrote {} ({:.1} s)",
                            path.display(),
                            rec.duration().as_secs_f64()
                        ),
                        Err(e) => eprintln!("media_probe: cannot write {}: {e}", path.display()),
                    }
                }
            }
            SessionEvent::Inactive => eprintln!("media_probe: peer silent"),
            SessionEvent::RemoteLatched(addr) => eprintln!("media_probe: latched to {addr}"),
        }
    }
}
