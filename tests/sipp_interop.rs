//! Interop with sipp (Debian's `sip-tester`) on loopback: the example UAS
//! and UAC against sipp's built-in and our own scenarios (tests/sipp/*.xml).
//!
//! Each test uses its own ports so they can run in parallel, bounds every
//! process in time, and kills what it started when it ends.

mod support;

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{example, root, sipp_available, Proc};

fn sipp(args: &[&str]) -> Command {
    let mut c = Command::new("sipp");
    c.current_dir(root().join("tests/sipp"))
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .args(["-timeout", "60s", "-timeout_error"])
        .args(args);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The value of `key=` in the summary line starting with `prefix`.
fn summary_field(out: &str, prefix: &str, key: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{out}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap()
}

fn wait_for_udp(port: u16) {
    // The UAS prints its address once bound; give it a moment to start.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let opts = format!(
        "OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKprobe{port}\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: probe-{port}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        probe.local_addr().unwrap()
    );
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        probe.send_to(opts.as_bytes(), ("127.0.0.1", port)).unwrap();
        if probe.recv(&mut buf).is_ok() {
            return;
        }
    }
    panic!("UAS on port {port} did not answer OPTIONS");
}

fn start_uas(port: u16, extra: &[&str]) -> Proc {
    let bind = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(example("uas"));
    cmd.args(["--bind", &bind]).args(extra);
    if !extra.contains(&"--run-secs") {
        cmd.args(["--run-secs", "120"]);
    }
    let uas = Proc::spawn(&mut cmd);
    wait_for_udp(port);
    uas
}

#[test]
fn sipp_uac_against_example_uas_200_calls() {
    if !sipp_available() {
        return;
    }
    let uas = start_uas(5110, &["--hold-secs", "2", "--max-calls", "200"]);
    let out = Proc::spawn(&mut sipp(&[
        "-sn",
        "uac",
        "127.0.0.1:5110",
        "-p",
        "5111",
        "-m",
        "200",
        "-r",
        "50",
    ]))
    .wait("process", Duration::from_secs(90));
    assert_eq!(out.status.code(), Some(0), "sipp failed:\n{}", text(&out));
    let uas_out = text(&uas.wait("process", Duration::from_secs(30)));
    assert_eq!(summary_field(&uas_out, "uas summary", "incoming"), 200.0);
    assert_eq!(summary_field(&uas_out, "uas summary", "remote_bye"), 200.0);
}

fn run_uac_against(scenario: &[&str], sipp_port: u16, uac_args: &[&str]) -> (Output, Output) {
    // Build first: sipp's own timeout runs from its start.
    let uac_bin = example("uac");
    let mut args: Vec<&str> = scenario.to_vec();
    let p = sipp_port.to_string();
    args.extend(["-p", &p]);
    let sipp_proc = Proc::spawn(&mut sipp(&args));
    std::thread::sleep(Duration::from_millis(500));
    let target = format!("sip:survey@127.0.0.1:{sipp_port}");
    let uac = Proc::spawn(
        Command::new(uac_bin)
            .args(["--target", &target])
            .args(uac_args),
    )
    .wait("process", Duration::from_secs(60));
    let sipp_out = sipp_proc.wait("process", Duration::from_secs(60));
    (uac, sipp_out)
}

#[test]
fn example_uac_against_sipp_uas() {
    if !sipp_available() {
        return;
    }
    let (uac, sipp_out) = run_uac_against(
        &["-sn", "uas", "-m", "50"],
        5120,
        &["--calls", "50", "--rate", "50", "--hold-secs", "0.5"],
    );
    let out = text(&uac);
    assert_eq!(uac.status.code(), Some(0), "{out}");
    assert_eq!(
        summary_field(&out, "uac summary", "answered"),
        50.0,
        "{out}"
    );
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp:\n{}",
        text(&sipp_out)
    );
}

#[test]
fn digest_401_md5_checked_by_sipp() {
    if !sipp_available() {
        return;
    }
    let (uac, sipp_out) = run_uac_against(
        &["-sf", "uas_auth_401.xml", "-m", "3"],
        5130,
        &[
            "--calls",
            "3",
            "--rate",
            "10",
            "--hold-secs",
            "0.2",
            "--user",
            "city",
            "--password",
            "s3cret",
        ],
    );
    let out = text(&uac);
    assert_eq!(summary_field(&out, "uac summary", "answered"), 3.0, "{out}");
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp:\n{}",
        text(&sipp_out)
    );
}

#[test]
fn digest_401_wrong_password_is_refused() {
    if !sipp_available() {
        return;
    }
    let (uac, _) = run_uac_against(
        &["-sf", "uas_auth_401.xml", "-m", "1"],
        5135,
        &["--calls", "1", "--user", "city", "--password", "wrong"],
    );
    let out = text(&uac);
    assert_eq!(uac.status.code(), Some(1), "{out}");
    assert!(out.contains("status: 403"), "{out}");
}

#[test]
fn digest_407_sha256_hash_verified_from_trace() {
    if !sipp_available() {
        return;
    }
    let trace = std::env::temp_dir().join(format!("kuulo-407-{}.log", std::process::id()));
    let trace_s = trace.to_str().unwrap().to_string();
    let (uac, sipp_out) = run_uac_against(
        &[
            "-sf",
            "uas_auth_407.xml",
            "-m",
            "1",
            "-trace_msg",
            "-message_file",
            &trace_s,
        ],
        5140,
        &[
            "--calls",
            "1",
            "--hold-secs",
            "0.2",
            "--user",
            "city",
            "--password",
            "s3cret",
        ],
    );
    let out = text(&uac);
    assert_eq!(summary_field(&out, "uac summary", "answered"), 1.0, "{out}");
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp:\n{}",
        text(&sipp_out)
    );

    // sipp checks only Authorization, so verify Proxy-Authorization here,
    // independently: SHA-256 over the RFC 7616 formula.
    let mut log = String::new();
    std::fs::File::open(&trace)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let _ = std::fs::remove_file(&trace);
    let line = log
        .lines()
        .find(|l| l.starts_with("Proxy-Authorization:"))
        .unwrap_or_else(|| panic!("no Proxy-Authorization in the trace:\n{log}"));
    let param = |name: &str| -> String {
        let v = line
            .split(&format!("{name}="))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in {line}"));
        let v = v.trim_start_matches('"');
        v.split(['"', ',']).next().unwrap().to_string()
    };
    let sha = |s: String| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(param("algorithm"), "SHA-256");
    let ha1 = sha(format!("city:{}:s3cret", param("realm")));
    let ha2 = sha(format!("INVITE:{}", param("uri")));
    let expected = sha(format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        param("nonce"),
        param("nc"),
        param("cnonce")
    ));
    assert_eq!(param("response"), expected, "{line}");
}

#[test]
fn busy_486_is_reported_as_busy() {
    if !sipp_available() {
        return;
    }
    let (uac, sipp_out) =
        run_uac_against(&["-sf", "uas_busy.xml", "-m", "2"], 5150, &["--calls", "2"]);
    let out = text(&uac);
    assert_eq!(uac.status.code(), Some(0), "{out}");
    assert_eq!(summary_field(&out, "uac summary", "busy"), 2.0, "{out}");
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp (expects our ACK):\n{}",
        text(&sipp_out)
    );
}

#[test]
fn ringing_without_answer_is_cancelled() {
    if !sipp_available() {
        return;
    }
    let (uac, sipp_out) = run_uac_against(
        &["-sf", "uas_no_answer.xml", "-m", "1"],
        5160,
        &["--calls", "1", "--ring-secs", "1"],
    );
    let out = text(&uac);
    assert_eq!(
        summary_field(&out, "uac summary", "no_answer"),
        1.0,
        "{out}"
    );
    let elapsed = summary_field(&out, "uac summary", "elapsed_s");
    assert!((0.9..5.0).contains(&elapsed), "cancelled after {elapsed} s");
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp (expects CANCEL, ACK of 487):\n{}",
        text(&sipp_out)
    );
}

#[test]
fn peer_hangs_up_with_bye() {
    if !sipp_available() {
        return;
    }
    let (uac, sipp_out) = run_uac_against(
        &["-sf", "uas_sends_bye.xml", "-m", "1"],
        5170,
        &["--calls", "1", "--hold-secs", "10"],
    );
    let out = text(&uac);
    assert_eq!(summary_field(&out, "uac summary", "answered"), 1.0, "{out}");
    let elapsed = summary_field(&out, "uac summary", "elapsed_s");
    assert!(
        elapsed < 5.0,
        "the peer's BYE must end the call before our 10 s hold: {elapsed}"
    );
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp (expects 200 to its BYE):\n{}",
        text(&sipp_out)
    );
}

#[test]
fn caller_that_never_acks_gets_bye_after_64_t1() {
    if !sipp_available() {
        return;
    }
    let uas = start_uas(5180, &["--hold-secs", "0", "--max-calls", "1"]);
    let started = Instant::now();
    let out = Proc::spawn(&mut sipp(&[
        "-sf",
        "uac_never_acks.xml",
        "127.0.0.1:5180",
        "-p",
        "5181",
        "-m",
        "1",
    ]))
    .wait("process", Duration::from_secs(90));
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "sipp (expects our BYE):\n{}",
        text(&out)
    );
    assert!(
        took >= Duration::from_secs(31),
        "BYE came after {took:?}, before 64*T1"
    );
    let uas_out = text(&uas.wait("process", Duration::from_secs(30)));
    assert_eq!(
        summary_field(&uas_out, "uas summary", "no_ack"),
        1.0,
        "{uas_out}"
    );
    // --max-calls 1 made it exit only once no call was left.
}

/// Malformed input against the running UAS: each bad datagram gets a 400
/// or is dropped, never kills the process, and a good request right after
/// is still answered.
#[test]
fn malformed_datagrams_do_not_stop_the_uas() {
    let uas = start_uas(5190, &["--hold-secs", "0"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let me = sock.local_addr().unwrap();
    let good = |branch: &str| {
        format!(
            "OPTIONS sip:survey@127.0.0.1:5190 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch}\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:survey@127.0.0.1>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let full = good("full");
    let mut cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "truncated in the headers",
            full.as_bytes()[..60].to_vec(),
            false,
        ),
        (
            "binary garbage",
            (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            false,
        ),
        ("empty", Vec::new(), false),
        (
            "bad Content-Length",
            full.replace("Content-Length: 0", "Content-Length: abc")
                .into_bytes(),
            true,
        ),
        (
            "Content-Length past the end",
            full.replace("Content-Length: 0", "Content-Length: 500")
                .into_bytes(),
            true,
        ),
        (
            "missing Call-ID",
            full.replace("Call-ID: full\r\n", "").into_bytes(),
            true,
        ),
        (
            "missing CSeq",
            full.replace("CSeq: 1 OPTIONS\r\n", "").into_bytes(),
            true,
        ),
        (
            "missing From",
            full.replace("From: <sip:t@127.0.0.1>;tag=1\r\n", "")
                .into_bytes(),
            true,
        ),
        (
            "missing Via",
            full.replace(&format!("Via: SIP/2.0/UDP {me};branch=z9hG4bKfull\r\n"), "")
                .into_bytes(),
            false,
        ),
        (
            "NUL bytes in a header",
            full.replace("tag=1", "tag=\0\0").into_bytes(),
            true,
        ),
        (
            "bad request line",
            full.replacen("SIP/2.0", "SIP/9.9", 1).into_bytes(),
            true,
        ),
    ];
    let mut big = full.clone().into_bytes();
    big.truncate(big.len() - 2);
    big.extend(std::iter::repeat_n(b'a', 65_000));
    cases.push((
        "over 64 KiB (truncated by the kernel's 64 KiB limit or ours)",
        big,
        false,
    ));
    let mut buf = [0u8; 70_000];
    for (i, (name, bytes, expect_400)) in cases.into_iter().enumerate() {
        let _ = sock.send_to(&bytes, "127.0.0.1:5190");
        let reply = sock
            .recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
        if expect_400 {
            let r = reply.unwrap_or_else(|| panic!("{name}: no answer, expected 400"));
            assert!(r.starts_with("SIP/2.0 400"), "{name}: {r}");
        } else if let Some(r) = reply {
            assert!(r.starts_with("SIP/2.0 400"), "{name}: unexpected {r}");
        }
        sock.send_to(good(&format!("after{i}")).as_bytes(), "127.0.0.1:5190")
            .unwrap();
        let n = sock
            .recv(&mut buf)
            .unwrap_or_else(|_| panic!("no answer to a good request after {name}"));
        let r = String::from_utf8_lossy(&buf[..n]);
        assert!(r.starts_with("SIP/2.0 200"), "after {name}: {r}");
    }
    drop(uas);
}

#[test]
fn tcp_example_uac_against_sipp_uas() {
    if !sipp_available() {
        return;
    }
    let (uac, sipp_out) = run_uac_against(
        &["-sn", "uas", "-t", "t1", "-m", "20"],
        5200,
        &[
            "--tcp",
            "--calls",
            "20",
            "--rate",
            "20",
            "--hold-secs",
            "0.3",
            "--linger-secs",
            "5",
        ],
    );
    let out = text(&uac);
    assert_eq!(uac.status.code(), Some(0), "{out}");
    assert_eq!(
        summary_field(&out, "uac summary", "answered"),
        20.0,
        "{out}"
    );
    assert_eq!(
        sipp_out.status.code(),
        Some(0),
        "sipp:\n{}",
        text(&sipp_out)
    );
}

#[test]
fn tcp_sipp_uac_against_example_uas() {
    if !sipp_available() {
        return;
    }
    // Bounded by time, not calls: sipp counts our TCP close during its
    // final wait as a failure.
    let uas = start_uas(5210, &["--hold-secs", "5", "--run-secs", "12"]);
    let out = Proc::spawn(&mut sipp(&[
        "-sn",
        "uac",
        "-t",
        "t1",
        "127.0.0.1:5210",
        "-p",
        "5211",
        "-m",
        "20",
        "-r",
        "20",
    ]))
    .wait("process", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "sipp failed:\n{}", text(&out));
    let uas_out = text(&uas.wait("process", Duration::from_secs(30)));
    assert_eq!(
        summary_field(&uas_out, "uas summary", "incoming"),
        20.0,
        "{uas_out}"
    );
    assert_eq!(
        summary_field(&uas_out, "uas summary", "remote_bye"),
        20.0,
        "{uas_out}"
    );
}

/// Hold by re-INVITE (sendonly offer must get a recvonly answer, and the
/// Session-Expires is echoed), UPDATE, in-dialog OPTIONS, an unknown method
/// (501), BYE, and a BYE for the finished dialog (481).
#[test]
fn hold_update_options_and_unknown_method() {
    if !sipp_available() {
        return;
    }
    // Bounded by time: the stale BYE must still find the UAS running.
    let uas = start_uas(5230, &["--hold-secs", "0", "--run-secs", "8"]);
    let out = Proc::spawn(&mut sipp(&[
        "-sf",
        "uac_hold_update_options.xml",
        "127.0.0.1:5230",
        "-p",
        "5231",
        "-m",
        "1",
    ]))
    .wait("process", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "sipp failed:\n{}", text(&out));
    let uas_out = text(&uas.wait("process", Duration::from_secs(30)));
    assert_eq!(
        summary_field(&uas_out, "uas summary", "remote_bye"),
        1.0,
        "{uas_out}"
    );
}

/// REGISTER against a registrar that challenges with 401 (hash checked by
/// sipp) and grants 4 s: the binding is refreshed before it expires.
#[test]
fn register_with_digest_and_refresh() {
    if !sipp_available() {
        return;
    }
    let uas_bin = example("uas");
    let registrar = Proc::spawn(&mut sipp(&[
        "-sf",
        "registrar_401.xml",
        "-p",
        "5240",
        "-m",
        "1",
    ]));
    std::thread::sleep(Duration::from_millis(500));
    let uas = Proc::spawn(Command::new(uas_bin).args([
        "--bind",
        "127.0.0.1:5241",
        "--registrar",
        "127.0.0.1:5240",
        "--aor",
        "sip:survey@kuulo.test",
        "--expires",
        "60",
        "--user",
        "city",
        "--password",
        "s3cret",
        "--run-secs",
        "5",
    ]));
    let reg_out = registrar.wait("process", Duration::from_secs(30));
    assert_eq!(
        reg_out.status.code(),
        Some(0),
        "registrar:\n{}",
        text(&reg_out)
    );
    let uas_out = text(&uas.wait("process", Duration::from_secs(30)));
    assert_eq!(
        summary_field(&uas_out, "uas summary", "registered"),
        2.0,
        "{uas_out}"
    );
    assert!(uas_out.contains("registered for 4 s"), "{uas_out}");
}
