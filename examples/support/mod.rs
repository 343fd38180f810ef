//! Helpers shared by the SIP examples.

#![allow(dead_code)]

use bytes::Bytes;
use std::net::IpAddr;
use std::time::Duration;

/// An audio SDP offering PCMU/8000 and telephone-event/8000 (RFC 4733) on
/// `rtp_port`, the minimum a phone or trunk accepts for a survey call.
pub fn audio_sdp(ip: IpAddr, rtp_port: u16, session_id: u64) -> Bytes {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    Bytes::from(format!(
        "v=0\r\n\
         o=kuulo {session_id} 1 IN {family} {ip}\r\n\
         s=kuulo\r\n\
         c=IN {family} {ip}\r\n\
         t=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    ))
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
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
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
