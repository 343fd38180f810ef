//! The media probe against RTP captured from a real phone: sipp's bundled
//! RFC 2833 DTMF captures (Debian sip-tester, /usr/share/sip-tester) are
//! replayed to it with their original timing, and every key must be
//! printed exactly once, in order.

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{example, Proc};

const PCAP_DIR: &str = "/usr/share/sip-tester";

/// One captured UDP payload and its capture time in seconds.
struct Captured {
    at: f64,
    payload: Vec<u8>,
}

/// Reads the UDP payloads of a classic little-endian pcap with Ethernet
/// framing (what sipp ships). Written here because the test must not
/// depend on the code under test to read its input.
fn read_pcap(path: &Path) -> Vec<Captured> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!(
        u32le(&data[0..4]),
        0xa1b2_c3d4,
        "{}: not a LE microsecond pcap",
        path.display()
    );
    assert_eq!(u32le(&data[20..24]), 1, "{}: not Ethernet", path.display());
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let at = f64::from(u32le(&data[off..])) + f64::from(u32le(&data[off + 4..])) / 1e6;
        let len = u32le(&data[off + 8..]) as usize;
        let frame = &data[off + 16..off + 16 + len];
        off += 16 + len;
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        out.push(Captured {
            at,
            payload: ip[ihl + 8..].to_vec(),
        });
    }
    out
}

fn rtp_timestamp(packets: &[Captured]) -> u32 {
    let p = &packets[0].payload;
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}

#[test]
fn every_key_of_sipps_rfc2833_captures_is_detected_once() {
    let dir = Path::new(PCAP_DIR);
    assert!(
        dir.join("dtmf_2833_1.pcap").exists(),
        "sipp's captures are missing: `apt-get install -y sip-tester` (.ci/run does it)"
    );
    let names = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound",
    ];
    let mut captures: Vec<(char, Vec<Captured>)> = names
        .iter()
        .map(|n| {
            let key = match *n {
                "star" => '*',
                "pound" => '#',
                d => d.chars().next().unwrap(),
            };
            (key, read_pcap(&dir.join(format!("dtmf_2833_{n}.pcap"))))
        })
        .collect();
    // The files are slices of one stream (one SSRC): play them in media
    // clock order. (dtmf_2833_0's sequence numbers are out of line with the
    // others, a quirk of the captures; the RTP timestamps are consistent.)
    captures.sort_by_key(|(_, p)| rtp_timestamp(p));
    let expected: String = captures.iter().map(|(k, _)| *k).collect();

    let probe = Proc::spawn(
        Command::new(example("media_probe"))
            .args([
                "--bind",
                "127.0.0.1:5250",
                "--prompt",
                "examples/prompts/beep.wav",
                "--run-secs",
                "12",
            ])
            .current_dir(support::root()),
    );
    std::thread::sleep(Duration::from_millis(500));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (_, packets) in &captures {
        let t0 = Instant::now();
        let c0 = packets[0].at;
        for p in packets {
            let due = Duration::from_secs_f64((p.at - c0).max(0.0));
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
            sock.send_to(&p.payload, "127.0.0.1:5250").unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // The probe answers where the RTP came from: our socket gets audio.
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 2048];
    let n = sock
        .recv(&mut buf)
        .expect("the probe sends its prompt back");
    assert!(
        n >= 12 + 160 && buf[1] & 0x7f == 0,
        "PCMU RTP with 20 ms of audio"
    );

    let out = probe.wait("media_probe", Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: String = stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, word, key, how) = (f.next()?, f.next()?, f.next()?, f.next()?);
            (word == "dtmf" && how == "rfc4733").then(|| key.chars().next().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        expected,
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ITU-T G.711 A-law expansion, written out here so the test checks the
/// probe against its own reading of the capture.
fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i16::from(a & 0x0f);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    if a & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    }
}

#[test]
fn sipps_30_ms_alaw_capture_is_recorded_whole() {
    let pcap = Path::new(PCAP_DIR).join("g711a.pcap");
    assert!(
        pcap.exists(),
        "sipp's captures are missing: `apt-get install -y sip-tester` (.ci/run does it)"
    );
    let packets = read_pcap(&pcap);
    // What the capture is: A-law (payload type 8) in 30 ms packets.
    assert!(packets.iter().all(|p| p.payload[1] & 0x7f == 8));
    assert!(packets.iter().all(|p| p.payload.len() == 12 + 240));
    let sent: Vec<i16> = packets
        .iter()
        .flat_map(|p| p.payload[12..].iter().map(|&c| alaw_to_linear(c)))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    let probe = Proc::spawn(
        Command::new(example("media_probe"))
            .args([
                "--bind",
                "127.0.0.1:5254",
                "--prompt",
                "examples/prompts/beep.wav",
                "--run-secs",
                "10",
                "--record",
            ])
            .arg(&wav)
            .current_dir(support::root()),
    );
    std::thread::sleep(Duration::from_millis(500));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let c0 = packets[0].at;
    for p in &packets {
        let due = Duration::from_secs_f64((p.at - c0).max(0.0));
        if let Some(wait) = due.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
        sock.send_to(&p.payload, "127.0.0.1:5254").unwrap();
    }
    // The probe answers in the caller's law.
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 2048];
    let n = sock
        .recv(&mut buf)
        .expect("the probe sends its prompt back");
    assert!(n >= 12 + 160 && buf[1] & 0x7f == 8, "PCMA RTP back");

    let out = probe.wait("media_probe", Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut reader = hound::WavReader::open(&wav)
        .unwrap_or_else(|e| panic!("no recording ({e}); stderr:\n{stderr}"));
    assert_eq!(reader.spec().sample_rate, 8000);
    let recorded: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    // A-law never decodes to zero: zeros in the recording are time when
    // nothing was played, the rest is what the peer sent.
    let start = recorded
        .iter()
        .position(|&s| s != 0)
        .expect("audio recorded");
    let end = recorded.iter().rposition(|&s| s != 0).unwrap() + 1;
    let heard: Vec<i16> = recorded[start..end]
        .iter()
        .copied()
        .filter(|&s| s != 0)
        .collect();
    let gaps_ms = (end - start - heard.len()) / 8;
    println!(
        "g711a.pcap: heard {} of {} samples, {gaps_ms} ms of gaps",
        heard.len(),
        sent.len()
    );
    // Real-time replay on a shared machine may lose a late packet or
    // drop a silent one to shrink the delay; never more than 1%, and no
    // sample twice.
    assert!(
        heard.len() <= sent.len() && heard.len() * 100 >= sent.len() * 99,
        "heard {} samples of the {} sent; stderr:\n{stderr}",
        heard.len(),
        sent.len()
    );
    assert!(
        gaps_ms <= 60,
        "{gaps_ms} ms of gaps in {:.2} s of audio; stderr:\n{stderr}",
        heard.len() as f64 / 8000.0
    );
    if heard.len() == sent.len() {
        assert!(heard == sent, "the samples differ from the capture's");
    }
}
