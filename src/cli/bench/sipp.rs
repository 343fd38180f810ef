//! The sipp callee population of `kuulo bench`: several sipp UAS
//! processes (one sipp replays media on one thread, so a few hundred
//! calls each), every one answering and pressing the bench survey's keys.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{BenchError, GivenAnswer, ResidentsSummary};

/// The scenario; `[key_gap_ms]` is replaced before it is written out.
const SCENARIO: &str = include_str!("uas.xml");

/// The keys each call presses, and the answers they make. sipp says
/// nothing to the open question (its echo serves only its one main media
/// port, and per-call ports are what keep calls apart), so # ends an empty
/// recording: no answer.
const ANSWERS: [(&str, &str); 4] = [
    ("consent", "yes"),
    ("used", "no"),
    ("rating", "4"),
    ("comment", "no answer"),
];

/// Running sipp processes, killed when dropped.
pub(super) struct SippFarm {
    children: Vec<Child>,
    /// Each one's SIP address.
    pub trunks: Vec<SocketAddr>,
}

impl SippFarm {
    /// Starts `instances` sipp UAS on SIP ports from `sip_base` and media
    /// ports from `media_base` (each call takes four: sipp's
    /// [auto_media_port] steps by 4), for `calls` calls in all; keys come
    /// `key_gap` apart.
    pub fn start(
        dir: &Path,
        instances: u32,
        sip_base: u16,
        media_base: u16,
        calls: u32,
        key_gap: Duration,
    ) -> Result<SippFarm, BenchError> {
        let scenario = dir.join("uas_bench.xml");
        let xml = SCENARIO.replace("[key_gap_ms]", &key_gap.as_millis().to_string());
        std::fs::write(&scenario, xml).map_err(super::io("the sipp scenario"))?;
        let per_instance = calls.div_ceil(instances.max(1));
        let span = per_instance * 4 + 16;
        if u32::from(media_base) + span * instances > 65_000 {
            return Err(BenchError::Residents(format!(
                "{calls} sipp calls need {} media ports from {media_base}; use fewer calls or a lower --rtp-base",
                span * instances
            )));
        }
        let mut farm = SippFarm {
            children: Vec::new(),
            trunks: Vec::new(),
        };
        for i in 0..instances {
            let sip_port = sip_base + i as u16;
            let media_port = media_base as u32 + i * span;
            let child = Command::new("sipp")
                .arg("-sf")
                .arg(&scenario)
                .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
                .args(["-p", &sip_port.to_string()])
                .args(["-mp", &media_port.to_string()])
                .args(["-buff_size", "4194304", "-nostdin"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    BenchError::Residents(format!(
                        "cannot run sipp ({e}); install it with `apt-get install sip-tester`"
                    ))
                })?;
            farm.children.push(child);
            farm.trunks
                .push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), sip_port));
        }
        std::thread::sleep(Duration::from_millis(500));
        for (child, trunk) in farm.children.iter_mut().zip(&farm.trunks) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(BenchError::Residents(format!(
                    "the sipp callee on SIP port {} exited at once ({status}); are its ports \
                     (media from {media_base} up) free? another bench may still be running, \
                     or choose other ports with --rtp-base",
                    trunk.port(),
                )));
            }
        }
        Ok(farm)
    }

    /// Stops every sipp; what the callees did, as far as the scenario
    /// says: every answered call pressed its four keys. `answered` is the
    /// number of calls the caller saw answered.
    pub fn stop(mut self, answered: u64) -> ResidentsSummary {
        self.kill();
        ResidentsSummary {
            keys: answered * ANSWERS.len() as u64,
            answers: (0..answered)
                .flat_map(|call| {
                    ANSWERS.iter().map(move |(q, v)| GivenAnswer {
                        call_id: format!("sipp-{call}"),
                        question: (*q).to_owned(),
                        value: (*v).to_owned(),
                    })
                })
                .collect(),
        }
    }

    fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for SippFarm {
    fn drop(&mut self) {
        self.kill();
    }
}
