//! One simulated resident: answers, listens for the end of each prompt, and
//! answers the question its shadow interpreter says is being asked.

use super::{GivenAnswer, PopulationStats};
use crate::engine::MediaDatagram;
use bytes::Bytes;
use kuulo_ivr::{
    Command, Event, Interpreter, PlaybackId, QuestionKind, RecordingEnd, RecordingId, StepKind,
    SurveyScript,
};
use kuulo_media::prompt::EncodedPrompt;
use kuulo_media::sdp::{answer_offer, AudioCodec, MediaConfig, SessionDescription};
use kuulo_media::session::{MediaSession, SessionConfig, SessionEvent};
use kuulo_sip::ua::{CallHandle, UserAgent};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) use kuulo_media::session::splitmix;

/// A duration uniformly between the two, picked by `seed`.
pub(super) fn between((lo, hi): (Duration, Duration), seed: u64) -> Duration {
    let span = hi.saturating_sub(lo).as_micros() as u64;
    lo + Duration::from_micros(if span == 0 { 0 } else { seed % span })
}

/// How a resident behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persona {
    Busy,
    NoAnswer,
    Answers {
        decline: bool,
        hang_up_after: Option<usize>,
        wrong_key: bool,
    },
}

/// What a resident does at a set time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Answer,
    Key(char),
    Say(RecordingId),
    HangUp,
}

/// What the shadow interpreter waits for once the current prompt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Keys,
    Voice(RecordingId),
}

pub(super) struct ResidentSetup {
    pub call: CallHandle,
    pub call_id: String,
    pub persona: Persona,
    pub port: u16,
    pub ip: IpAddr,
    pub offer: Option<Bytes>,
    pub answer_at: Instant,
    pub think_time: (Duration, Duration),
    pub prompt_gap: Duration,
    pub seed: u64,
}

pub(super) struct Resident {
    setup: ResidentSetup,
    media: Option<MediaSession>,
    shadow: Interpreter,
    script: Arc<SurveyScript>,
    voice: Arc<EncodedPrompt>,
    playing: Option<PlaybackId>,
    waiting: Waiting,
    question: Option<String>,
    answered_questions: usize,
    wrong_key_used: bool,
    speaking: Option<RecordingId>,
    acts: VecDeque<(Instant, Act)>,
    heard_since_pause: bool,
    counted_answer: bool,
    /// The deadline the population's timer heap holds for this resident.
    pub(super) scheduled: Option<Instant>,
    rng: u64,
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resident")
            .field("call", &self.setup.call)
            .field("persona", &self.setup.persona)
            .field("waiting", &self.waiting)
            .finish()
    }
}

impl Resident {
    pub(super) fn new(
        setup: ResidentSetup,
        script: Arc<SurveyScript>,
        voice: Arc<EncodedPrompt>,
    ) -> Resident {
        let answer_at = setup.answer_at;
        Resident {
            rng: setup.seed | 1,
            setup,
            media: None,
            shadow: Interpreter::new(Arc::clone(&script)),
            script,
            voice,
            playing: None,
            waiting: Waiting::Nothing,
            question: None,
            answered_questions: 0,
            wrong_key_used: false,
            speaking: None,
            acts: VecDeque::from([(answer_at, Act::Answer)]),
            heard_since_pause: false,
            counted_answer: false,
            scheduled: None,
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.setup.port
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        let act = self.acts.iter().map(|(at, _)| *at).min();
        let media = self.media.as_ref().and_then(MediaSession::poll_timeout);
        [act, media].into_iter().flatten().min()
    }

    pub(super) fn handle_media(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(m) = self.media.as_mut() {
            m.handle_receive(now, from, data);
            self.heard_since_pause = true;
        }
    }

    pub(super) fn poll_media_transmit(&mut self) -> Option<MediaDatagram> {
        let m = self.media.as_mut()?;
        m.poll_transmit().map(|t| MediaDatagram::copy_of(&t))
    }

    pub(super) fn close(&mut self, now: Instant) {
        if let Some(m) = self.media.as_mut() {
            m.close(now);
        }
        self.shadow.handle_event(now, Event::HungUp);
    }

    pub(super) fn handle_timeout(&mut self, now: Instant, ua: &mut UserAgent) {
        if let Some(m) = self.media.as_mut() {
            m.handle_timeout(now);
        }
        while let Some(&(at, act)) = self.acts.front() {
            if at > now {
                break;
            }
            self.acts.pop_front();
            self.act(now, act, ua);
        }
    }

    fn act(&mut self, now: Instant, act: Act, ua: &mut UserAgent) {
        match act {
            Act::Answer => self.answer(now, ua),
            Act::Key(k) => {
                if let Some(m) = self.media.as_mut() {
                    let _ = m.send_dtmf(k);
                }
                self.shadow.handle_event(now, Event::Digit(k));
            }
            Act::Say(id) => {
                if let Some(m) = self.media.as_mut() {
                    if m.play(Arc::clone(&self.voice)).is_ok() {
                        self.speaking = Some(id);
                    }
                }
            }
            Act::HangUp => ua.hangup(now, self.setup.call),
        }
    }

    fn answer(&mut self, now: Instant, ua: &mut UserAgent) {
        let mut cfg = MediaConfig::new(self.setup.ip, self.setup.port);
        cfg.codecs = vec![AudioCodec::Pcmu, AudioCodec::Pcma];
        cfg.session_id = self.setup.seed;
        let offer = self
            .setup
            .offer
            .as_ref()
            .and_then(|o| SessionDescription::parse(o).ok());
        let Some(Ok((answer, negotiated))) = offer.map(|o| answer_offer(&o, &cfg)) else {
            ua.reject(now, self.setup.call, 488);
            return;
        };
        let mut session = SessionConfig::new(&negotiated, self.setup.seed);
        // The engine sends nothing between prompts: a pause this long is
        // the end of one.
        session.inactivity_timeout = self.setup.prompt_gap;
        let Ok(media) = MediaSession::new(now, session) else {
            ua.reject(now, self.setup.call, 488);
            return;
        };
        self.media = Some(media);
        ua.answer(now, self.setup.call, Bytes::from(answer.to_string()));
        self.shadow.handle_event(now, Event::CallStarted);
    }

    /// Handles the session's events and the shadow's commands.
    pub(super) fn drain(
        &mut self,
        now: Instant,
        stats: &mut PopulationStats,
        answers: &mut Vec<GivenAnswer>,
    ) {
        if self.media.is_some() && !self.counted_answer {
            self.counted_answer = true;
            stats.answered += 1;
        }
        let mut prompt_ended = false;
        let mut spoke = false;
        if let Some(m) = self.media.as_mut() {
            while let Some(ev) = m.poll_event() {
                match ev {
                    SessionEvent::Inactive if self.heard_since_pause => {
                        self.heard_since_pause = false;
                        prompt_ended = true;
                    }
                    SessionEvent::PlaybackFinished => spoke = true,
                    _ => {}
                }
            }
        }
        if spoke {
            if let Some(id) = self.speaking.take() {
                stats.voice_answers += 1;
                let duration = self.voice.duration();
                self.shadow.handle_event(
                    now,
                    Event::RecordingFinished {
                        id,
                        duration,
                        reason: RecordingEnd::Silence,
                    },
                );
            }
        }
        if prompt_ended {
            // Every prompt the shadow has queued has now been heard (the
            // engine plays consecutive prompts without a pause).
            while let Some(id) = self.playing.take() {
                self.shadow
                    .handle_event(now, Event::PlaybackFinished { id });
                self.follow_shadow(now, stats, answers);
            }
            match self.waiting {
                Waiting::Keys => self.plan_keys(now, stats),
                Waiting::Voice(id) => {
                    self.waiting = Waiting::Nothing;
                    let think = self.think();
                    self.schedule(now + think, Act::Say(id));
                }
                Waiting::Nothing => {}
            }
        }
        self.follow_shadow(now, stats, answers);
    }

    /// Queues an act, keeping the queue in time order.
    fn schedule(&mut self, at: Instant, act: Act) {
        let pos = self.acts.partition_point(|(t, _)| *t <= at);
        self.acts.insert(pos, (at, act));
    }

    fn think(&mut self) -> Duration {
        between(self.setup.think_time, splitmix(&mut self.rng))
    }

    fn follow_shadow(
        &mut self,
        now: Instant,
        stats: &mut PopulationStats,
        answers: &mut Vec<GivenAnswer>,
    ) {
        while let Some(cmd) = self.shadow.poll_command() {
            match cmd {
                Command::Play { id, .. } => self.playing = Some(id),
                Command::CollectDigits { question, .. } => {
                    self.question = Some(question.to_string());
                    self.waiting = Waiting::Keys;
                }
                Command::StartRecord { id, beep, .. } => {
                    if beep {
                        // The engine beeps first: speak when it stops.
                        self.waiting = Waiting::Voice(id);
                    } else {
                        let think = self.think();
                        self.schedule(now + think, Act::Say(id));
                    }
                }
                Command::StoreAnswer { question, value } => {
                    self.answered_questions += 1;
                    answers.push(GivenAnswer {
                        call_id: self.setup.call_id.clone(),
                        question: question.to_string(),
                        value,
                    });
                    if let Persona::Answers {
                        hang_up_after: Some(n),
                        ..
                    } = self.setup.persona
                    {
                        if self.answered_questions == n {
                            stats.hung_up += 1;
                            let think = self.think();
                            self.schedule(now + think, Act::HangUp);
                        }
                    }
                }
                Command::HangUp { .. } => {
                    self.waiting = Waiting::Nothing;
                }
                _ => {}
            }
        }
    }

    /// Picks the keys for the question being asked and schedules them.
    fn plan_keys(&mut self, now: Instant, stats: &mut PopulationStats) {
        self.waiting = Waiting::Nothing;
        let Some(kind) = self
            .question
            .as_deref()
            .and_then(|q| self.script.step(q))
            .and_then(|s| match &s.kind {
                StepKind::Question(q) => Some(q.kind.clone()),
                _ => None,
            })
        else {
            return;
        };
        let Persona::Answers {
            decline, wrong_key, ..
        } = self.setup.persona
        else {
            return;
        };
        let pick = splitmix(&mut self.rng);
        let mut keys: Vec<char> = match &kind {
            QuestionKind::Consent { yes, no, .. } => {
                if decline {
                    stats.declined += 1;
                    vec![*no]
                } else {
                    vec![*yes]
                }
            }
            QuestionKind::YesNo { yes, no } => vec![if pick % 2 == 0 { *yes } else { *no }],
            QuestionKind::Choice { options } | QuestionKind::Language { options } => {
                vec![options[(pick as usize) % options.len().max(1)].key]
            }
            QuestionKind::Scale { min, max } => {
                let span = u64::from(max.saturating_sub(*min)) + 1;
                vec![char::from(b'0' + min + (pick % span) as u8)]
            }
            QuestionKind::Number {
                min_digits,
                max_digits,
                terminator,
            } => {
                let span = u64::from(max_digits.saturating_sub(*min_digits)) + 1;
                let n = usize::from(*min_digits) + (pick % span) as usize;
                let mut k: Vec<char> = (0..n.max(1))
                    .map(|i| char::from(b'1' + ((pick >> (i * 3)) % 9) as u8))
                    .collect();
                if k.len() < usize::from(*max_digits) {
                    k.push(*terminator);
                }
                k
            }
        };
        let invalid = matches!(
            kind,
            QuestionKind::Choice { .. } | QuestionKind::Scale { .. } | QuestionKind::YesNo { .. }
        );
        if wrong_key && invalid && !self.wrong_key_used {
            // One wrong key: the survey reprompts, and the resident answers
            // properly after hearing the reprompt.
            self.wrong_key_used = true;
            if let Some(bad) = ['0', '8', '7']
                .into_iter()
                .find(|k| self.key_is_invalid(&kind, *k))
            {
                keys = vec![bad];
            }
        }
        self.schedule_keys(now, &keys, stats);
    }

    fn key_is_invalid(&self, kind: &QuestionKind, key: char) -> bool {
        match kind {
            QuestionKind::YesNo { yes, no } => key != *yes && key != *no,
            QuestionKind::Choice { options } => options.iter().all(|o| o.key != key),
            QuestionKind::Scale { min, max } => {
                !key.is_ascii_digit() || !(*min..=*max).contains(&(key as u8 - b'0'))
            }
            _ => false,
        }
    }

    fn schedule_keys(&mut self, now: Instant, keys: &[char], stats: &mut PopulationStats) {
        let mut at = now + self.think();
        for &k in keys {
            stats.keys += 1;
            self.schedule(at, Act::Key(k));
            // A key is 100 ms of tone and 100 ms of pause; leave room.
            at += Duration::from_millis(250);
        }
    }
}
