//! Helpers shared by the SIP examples.

#![allow(dead_code)]

use bytes::Bytes;
use kuulo::media::sdp::{answer_offer, build_offer, AudioCodec, MediaConfig, SessionDescription};
use std::net::IpAddr;
use std::time::Duration;

/// Our media preferences for the SIP examples: PCMU then PCMA with
/// RFC 4733 telephone-events, 20 ms, on `rtp_port` (the examples answer
/// calls but send no RTP; the survey engine does).
pub fn media_config(ip: IpAddr, rtp_port: u16, session_id: u64) -> MediaConfig {
    let mut cfg = MediaConfig::new(ip, rtp_port);
    cfg.codecs = vec![AudioCodec::Pcmu, AudioCodec::Pcma];
    cfg.session_id = session_id;
    cfg
}

/// An SDP offer for an outgoing call.
pub fn offer(cfg: &MediaConfig) -> Bytes {
    Bytes::from(build_offer(cfg).to_string())
}

/// The SDP answer to `offer` (RFC 3264), or why there is none (a UAS
/// answers that with 488 Not Acceptable Here).
pub fn answer(offer: &[u8], cfg: &MediaConfig) -> Result<Bytes, String> {
    let offer = SessionDescription::parse(offer).map_err(|e| e.to_string())?;
    let (answer, _) = answer_offer(&offer, cfg).map_err(|e| e.to_string())?;
    Ok(Bytes::from(answer.to_string()))
}

/// The `q`-quantile (0..=1) of `samples`, in milliseconds.
pub fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let idx = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[idx.min(samples.len() - 1)].as_secs_f64() * 1000.0
}

/// Resolves when Ctrl-C is pressed (or never, if the signal cannot be
/// installed).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// CPU seconds (user + system) this process has used so far, from
/// /proc/self/stat (Linux; 0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5); 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size in KiB, from /proc/self/status (Linux; 0 elsewhere).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
