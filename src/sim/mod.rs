//! Simulated residents: the callee population of `kuulo demo` and
//! `kuulo bench`, answering survey calls with the same SIP and media stack
//! a phone would use.
//!
//! Each resident has a persona drawn from configurable shares: busy, never
//! answers, answers and declines, hangs up midway, presses a wrong key
//! first, or leaves a voice answer. A resident follows the survey the way a
//! person does, by listening: the engine sends no audio between prompts
//! ([`IdleMode::Nothing`](kuulo_media::session::IdleMode)), so a pause in
//! the RTP stream is the end of a prompt. To know what the pause asks for
//! (a key? which keys are valid? a spoken answer?), each resident runs a
//! shadow copy of the survey's [`Interpreter`] fed with the same keys, so
//! it follows every branch and reprompt exactly, and it logs the answers it
//! meant to give: a benchmark can check that none was lost.
//!
//! Sans-IO like every core: `handle_sip`, `handle_media`, `handle_timeout`
//! in; `poll_sip_transmit`, `poll_media_transmit`, `poll_timeout` out. Each
//! call gets its own RTP port, so media is routed by the port it arrives
//! on.

pub mod driver;
mod resident;

use crate::engine::MediaDatagram;
use bytes::Bytes;
use kuulo_ivr::{AnswerValue, SurveyScript};
use kuulo_media::prompt::EncodedPrompt;
use kuulo_sip::transport::{Peer, Transmit};
use kuulo_sip::ua::{CallHandle, UaConfig, UaEvent, UserAgent};
use resident::{Persona, Resident};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shares of each behaviour, from 0 to 1; what is left answers and
/// completes the survey.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares {
    /// Reject with 486 Busy Here.
    pub busy: f64,
    /// Ring and never answer (the caller cancels).
    pub no_answer: f64,
    /// Answer and decline the consent question.
    pub decline: f64,
    /// Answer, then hang up after one or two answers.
    pub hang_up_midway: f64,
    /// Of those who answer: press an invalid key once before a valid one.
    pub wrong_key: f64,
    /// Of those who answer: the keypad-savvy, who press the answer while
    /// the question is still being read (barge-in) once they have heard
    /// the options they need. (Everyone answers over a repeated question,
    /// and ends a voice answer with the finish key when the step has one.)
    pub barge_in: f64,
}

impl Default for Shares {
    fn default() -> Shares {
        Shares {
            busy: 0.1,
            no_answer: 0.15,
            decline: 0.1,
            hang_up_midway: 0.1,
            wrong_key: 0.2,
            barge_in: 0.0,
        }
    }
}

/// Settings of a [`ResidentPopulation`].
#[derive(Debug, Clone)]
pub struct PopulationConfig {
    /// The population's SIP address.
    pub sip: SocketAddr,
    /// Address of the residents' RTP ports.
    pub rtp_ip: IpAddr,
    /// First RTP port; resident `i` uses `rtp_base + 2 i` (RTCP above it).
    pub rtp_base: u16,
    /// How many calls at once the population can take (ports reserved).
    pub capacity: u16,
    /// Behaviour shares.
    pub shares: Shares,
    /// Ringing time before an answer, uniformly between the two.
    pub answer_delay: (Duration, Duration),
    /// Time to think before pressing a key, uniformly between the two.
    pub think_time: (Duration, Duration),
    /// A pause this long in the engine's audio ends a prompt.
    pub prompt_gap: Duration,
    /// Seed of every random choice: the same seed gives the same residents.
    pub seed: u64,
    /// The survey's prompts, as the engine plays them. With them a
    /// resident knows how long each prompt is, as a person knows when a
    /// sentence is finished, and takes a pause for the prompt's end only
    /// once it has heard (nearly) all of it: a caller stalled by load does
    /// not make residents answer too early. Without them any pause of
    /// `prompt_gap` ends a prompt.
    pub prompts: Option<Arc<crate::engine::PromptLibrary>>,
}

impl PopulationConfig {
    /// Defaults: realistic delays, default shares.
    pub fn new(sip: SocketAddr, rtp_ip: IpAddr, rtp_base: u16, capacity: u16) -> PopulationConfig {
        PopulationConfig {
            sip,
            rtp_ip,
            rtp_base,
            capacity,
            shares: Shares::default(),
            answer_delay: (Duration::from_millis(500), Duration::from_secs(4)),
            think_time: (Duration::from_millis(300), Duration::from_millis(1500)),
            prompt_gap: Duration::from_millis(300),
            seed: 1,
            prompts: None,
        }
    }
}

/// What the population did, for reports and checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopulationStats {
    /// INVITEs received.
    pub calls: u64,
    /// Rejected as busy.
    pub busy: u64,
    /// Left ringing.
    pub no_answer: u64,
    /// Answered.
    pub answered: u64,
    /// Declined consent.
    pub declined: u64,
    /// Hung up midway.
    pub hung_up: u64,
    /// Keys pressed (RFC 4733).
    pub keys: u64,
    /// Voice answers spoken.
    pub voice_answers: u64,
    /// Calls refused because every RTP port was taken.
    pub refused_full: u64,
}

/// How many residents of each kind a population's calls meet, as
/// [`ResidentPopulation::predict`] draws them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersonaCounts {
    /// Busy.
    pub busy: u64,
    /// Never answer.
    pub no_answer: u64,
    /// Answer.
    pub answered: u64,
    /// Of those answering: decline consent.
    pub declined: u64,
    /// Of those answering: hang up after one or two answers.
    pub hang_up_midway: u64,
}

impl PersonaCounts {
    /// Residents who answer every question.
    pub fn complete(&self) -> u64 {
        self.answered - self.declined - self.hang_up_midway
    }
}

/// A uniform draw from [0, 1), to compare with a share.
fn unit(rng: &mut u64) -> f64 {
    (resident::splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64
}

/// Who answers the next call.
fn draw_persona(rng: &mut u64, s: &Shares) -> Persona {
    let roll = unit(rng);
    if roll < s.busy {
        return Persona::Busy;
    }
    if roll < s.busy + s.no_answer {
        return Persona::NoAnswer;
    }
    let roll2 = unit(rng);
    let roll3 = unit(rng);
    // Drawn only when asked for, so a population without barge-in keeps
    // the random stream (and the residents) it always had.
    let barges_in = s.barge_in > 0.0 && unit(rng) < s.barge_in;
    let hangs_up = roll2 >= s.decline && roll2 < s.decline + s.hang_up_midway;
    // After how many answers, drawn for everyone to keep the stream simple.
    let after = 1 + (resident::splitmix(rng) % 2) as usize;
    Persona::Answers {
        decline: roll2 < s.decline,
        hang_up_after: hangs_up.then_some(after),
        wrong_key: roll3 < s.wrong_key,
        barges_in,
    }
}

/// One answer a resident gave, by the SIP Call-ID of its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenAnswer {
    /// The call's SIP Call-ID.
    pub call_id: String,
    /// The question step.
    pub question: String,
    /// The answer the resident's shadow interpreter stored.
    pub value: AnswerValue,
}

/// Many simulated residents behind one SIP address.
#[derive(Debug)]
pub struct ResidentPopulation {
    config: PopulationConfig,
    ua: UserAgent,
    script: Arc<SurveyScript>,
    voice: Arc<EncodedPrompt>,
    residents: HashMap<CallHandle, Resident>,
    by_port: HashMap<u16, CallHandle>,
    /// Oldest-freed first: a port is reused as late as possible, so
    /// packets still in flight for its last call find no new one there.
    free_ports: VecDeque<u16>,
    /// Residents an input reached since the last pump: only they are
    /// drained, so a packet costs one resident's work, not the population's.
    touched: Vec<CallHandle>,
    /// Each resident's next deadline (stale entries are skipped).
    timers: BinaryHeap<Reverse<(Instant, CallHandle)>>,
    media_out: VecDeque<MediaDatagram>,
    answers: Vec<GivenAnswer>,
    stats: PopulationStats,
    rng: u64,
}

impl ResidentPopulation {
    /// A population answering `script`'s survey; `voice` is what residents
    /// say to an open question.
    pub fn new(
        config: PopulationConfig,
        script: Arc<SurveyScript>,
        voice: Arc<EncodedPrompt>,
    ) -> Self {
        let mut ua_config = UaConfig::new(config.sip);
        ua_config.contact_user = "resident".into();
        let free_ports = (0..config.capacity)
            .map(|i| config.rtp_base.wrapping_add(i.wrapping_mul(2)))
            .collect();
        ResidentPopulation {
            rng: config.seed | 1,
            ua: UserAgent::new(ua_config),
            config,
            script,
            voice,
            residents: HashMap::new(),
            by_port: HashMap::new(),
            free_ports,
            touched: Vec::new(),
            timers: BinaryHeap::new(),
            media_out: VecDeque::new(),
            answers: Vec::new(),
            stats: PopulationStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &PopulationStats {
        &self.stats
    }

    /// Every answer residents gave, in order.
    pub fn answers(&self) -> &[GivenAnswer] {
        &self.answers
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        self.residents.len()
    }

    /// A SIP datagram for the population.
    pub fn handle_sip(&mut self, now: Instant, from: Peer, data: Bytes) {
        self.ua.handle_datagram(now, from, data);
        self.pump(now);
    }

    /// An RTP or RTCP datagram that arrived at local port `port`.
    pub fn handle_media(&mut self, now: Instant, port: u16, from: SocketAddr, data: &[u8]) {
        let Some(h) = self.by_port.get(&(port & !1)).copied() else {
            return;
        };
        if let Some(r) = self.residents.get_mut(&h) {
            r.handle_media(now, from, data);
            self.touched.push(h);
        }
        self.pump(now);
    }

    /// Runs every timer due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        while let Some(&Reverse((at, h))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(r) = self.residents.get_mut(&h) {
                if r.scheduled == Some(at) {
                    r.scheduled = None;
                    r.handle_timeout(now, &mut self.ua);
                    self.touched.push(h);
                }
            }
        }
        self.pump(now);
    }

    /// When to call [`ResidentPopulation::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = self.timers.peek().map(|Reverse((at, _))| *at);
        [own, self.ua.poll_timeout()].into_iter().flatten().min()
    }

    /// The next SIP datagram to send.
    pub fn poll_sip_transmit(&mut self) -> Option<Transmit> {
        self.ua.poll_transmit()
    }

    /// The next media datagram; send it from its
    /// [`local_port`](MediaDatagram::local_port).
    pub fn poll_media_transmit(&mut self) -> Option<MediaDatagram> {
        self.media_out.pop_front()
    }

    fn next_random(&mut self) -> u64 {
        resident::splitmix(&mut self.rng)
    }

    /// What a population with this `seed` and `shares` (its config's) will
    /// do with its first `calls` calls, from the seed alone: the same draws, in the same order, as
    /// the calls themselves make (given enough capacity that none is
    /// refused). What a caller stores can be checked against it exactly.
    pub fn predict(seed: u64, shares: &Shares, calls: u64) -> PersonaCounts {
        let mut rng = seed | 1;
        let mut counts = PersonaCounts::default();
        for _ in 0..calls {
            match draw_persona(&mut rng, shares) {
                Persona::Busy => counts.busy += 1,
                Persona::NoAnswer => counts.no_answer += 1,
                Persona::Answers {
                    decline,
                    hang_up_after,
                    ..
                } => {
                    counts.answered += 1;
                    counts.declined += u64::from(decline);
                    counts.hang_up_midway += u64::from(hang_up_after.is_some());
                    // The resident's own seed.
                    resident::splitmix(&mut rng);
                }
            }
        }
        counts
    }

    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.ua.poll_event() {
            match ev {
                UaEvent::Incoming {
                    call,
                    call_id,
                    offer,
                    ..
                } => self.on_incoming(now, call, call_id, offer),
                UaEvent::Ended { call, .. } => {
                    if let Some(mut r) = self.residents.remove(&call) {
                        r.close(now);
                        self.by_port.remove(&r.port());
                        self.free_ports.push_back(r.port());
                    }
                }
                _ => {}
            }
        }
        for h in std::mem::take(&mut self.touched) {
            let Some(r) = self.residents.get_mut(&h) else {
                continue;
            };
            r.drain(now, &mut self.stats, &mut self.answers);
            while let Some(d) = r.poll_media_transmit() {
                self.media_out.push_back(d);
            }
            let next = r.next_timeout();
            if next.is_some() && next != r.scheduled {
                r.scheduled = next;
                if let Some(at) = next {
                    self.timers.push(Reverse((at, h)));
                }
            }
        }
    }

    fn on_incoming(
        &mut self,
        now: Instant,
        call: CallHandle,
        call_id: String,
        offer: Option<Bytes>,
    ) {
        self.stats.calls += 1;
        let persona = draw_persona(&mut self.rng, &self.config.shares);
        match persona {
            Persona::Busy => {
                self.stats.busy += 1;
                self.ua.reject(now, call, 486);
                return;
            }
            Persona::NoAnswer => {
                self.stats.no_answer += 1;
                self.ua.ring(now, call, None);
                return;
            }
            Persona::Answers { .. } => {}
        }
        let Some(port) = self.free_ports.pop_front() else {
            self.stats.refused_full += 1;
            self.ua.reject(now, call, 486);
            return;
        };
        self.ua.ring(now, call, None);
        let seed = self.next_random();
        let delay = resident::between(self.config.answer_delay, seed);
        let r = Resident::new(
            resident::ResidentSetup {
                call,
                call_id,
                persona,
                port,
                ip: self.config.rtp_ip,
                offer,
                answer_at: now + delay,
                think_time: self.config.think_time,
                prompt_gap: self.config.prompt_gap,
                seed,
            },
            Arc::clone(&self.script),
            Arc::clone(&self.voice),
            self.config.prompts.clone(),
        );
        self.by_port.insert(port, call);
        self.residents.insert(call, r);
        self.touched.push(call);
    }
}
