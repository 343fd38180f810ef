//! One simulated resident: answers, listens for the end of each prompt, and
//! answers the question its shadow interpreter says is being asked.

use super::{GivenAnswer, PopulationStats};
use crate::engine::{MediaDatagram, PromptLibrary};
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
        barges_in: bool,
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

/// Audio packets of a prompt that may go missing before its end is heard.
const LOST_FRAMES_ALLOWED: u32 = 5;

/// A pause this long ends a prompt even if not all of it was heard.
const LONG_PAUSE: Duration = Duration::from_secs(2);

/// How long after speaking a resident presses # to end the answer.
const FINISH_KEY_AFTER: (Duration, Duration) =
    (Duration::from_millis(300), Duration::from_millis(900));

/// How much of a repeated question a resident hears before answering.
const REPROMPT_BARGE_IN_AFTER: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_millis(1500));

/// How much of a question a resident who barges in hears before pressing.
const BARGE_IN_AFTER: (Duration, Duration) = (Duration::from_millis(1500), Duration::from_secs(4));

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
    /// Whether the prompt now playing may be interrupted by a key.
    playing_barge_in: bool,
    waiting: Waiting,
    question: Option<String>,
    answered_questions: usize,
    wrong_key_used: bool,
    speaking: Option<RecordingId>,
    /// The key that ends the voice answer being asked for, if any.
    finish_key: Option<char>,
    /// The voice answer whose finish key has been pressed, until the
    /// shadow stops it.
    finishing: Option<RecordingId>,
    acts: VecDeque<(Instant, Act)>,
    heard_since_pause: bool,
    /// Prompt lengths, when known (see `PopulationConfig::prompts`).
    prompts: Option<Arc<PromptLibrary>>,
    /// Audio packets heard since the last prompt end.
    frames_heard: u32,
    /// 20 ms frames of the prompts queued since the last prompt end;
    /// `None` when one of them has no known length.
    frames_expected: Option<u32>,
    /// A pause came before the prompts could have ended: if nothing more
    /// is heard by this time, it was their end after all (packets lost).
    pause_check: Option<(Instant, u32)>,
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
        prompts: Option<Arc<PromptLibrary>>,
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
            playing_barge_in: false,
            waiting: Waiting::Nothing,
            question: None,
            answered_questions: 0,
            wrong_key_used: false,
            speaking: None,
            finish_key: None,
            finishing: None,
            acts: VecDeque::from([(answer_at, Act::Answer)]),
            heard_since_pause: false,
            prompts,
            frames_heard: 0,
            frames_expected: Some(0),
            pause_check: None,
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
        let check = self.pause_check.map(|(at, _)| at);
        [act, media, check].into_iter().flatten().min()
    }

    pub(super) fn handle_media(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(m) = self.media.as_mut() {
            m.handle_receive(now, from, data);
            self.heard_since_pause = true;
            // G.711 audio (payload types 0 and 8), not RTCP or events.
            if data.len() > 12 && matches!(data[1] & 0x7f, 0 | 8) {
                self.frames_heard += 1;
            }
        }
    }

    /// Whether a pause now is the end of the prompts queued: all of their
    /// audio (bar a few lost packets) has been heard.
    fn heard_it_all(&self) -> bool {
        self.frames_expected
            .is_none_or(|expected| self.frames_heard + LOST_FRAMES_ALLOWED >= expected)
    }

    /// Counts a prompt towards what must be heard before the next pause.
    fn expect(&mut self, prompt: Option<&Arc<EncodedPrompt>>) {
        self.frames_expected = match (self.frames_expected, prompt) {
            (Some(n), Some(p)) => Some(n + (p.duration().as_millis() / 20) as u32),
            _ => None,
        };
    }

    fn reset_heard(&mut self) {
        self.frames_heard = 0;
        self.frames_expected = Some(0);
        self.pause_check = None;
    }

    pub(super) fn poll_media_transmit(&mut self) -> Option<MediaDatagram> {
        let m = self.media.as_mut()?;
        let port = self.setup.port;
        m.poll_transmit()
            .map(|t| MediaDatagram::new(t.destination, t.kind, port, t.contents))
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
        let mut paused = false;
        if let Some(m) = self.media.as_mut() {
            while let Some(ev) = m.poll_event() {
                match ev {
                    SessionEvent::Inactive if self.heard_since_pause => {
                        self.heard_since_pause = false;
                        paused = true;
                    }
                    SessionEvent::PlaybackFinished => spoke = true,
                    _ => {}
                }
            }
        }
        if spoke {
            if let Some(id) = self.speaking.take() {
                stats.voice_answers += 1;
                if self.finish_key.is_some() {
                    // Ends the answer with # as the prompt asks, instead
                    // of waiting for the recording's silence timeout.
                    stats.keys += 1;
                    self.finishing = Some(id);
                    let think = between(FINISH_KEY_AFTER, splitmix(&mut self.rng));
                    let key = self.finish_key.unwrap_or('#');
                    self.schedule(now + think, Act::Key(key));
                } else {
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
        }
        if paused {
            if self.heard_it_all() {
                prompt_ended = true;
            } else {
                self.pause_check = Some((now + LONG_PAUSE, self.frames_heard));
            }
        }
        if let Some((at, heard)) = self.pause_check {
            if now >= at {
                self.pause_check = None;
                // Silent ever since: the rest of the prompt was lost.
                prompt_ended |= self.frames_heard == heard;
            }
        }
        if prompt_ended {
            self.reset_heard();
            // Every prompt the shadow has queued has now been heard (the
            // engine plays consecutive prompts without a pause).
            while let Some(id) = self.playing.take() {
                self.shadow
                    .handle_event(now, Event::PlaybackFinished { id });
                self.follow_shadow(now, stats, answers);
            }
            match self.waiting {
                Waiting::Keys => self.plan_keys(now, now, stats),
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

    /// Keypad-savvy: answers over the questions.
    fn is_brisk(&self) -> bool {
        matches!(
            self.setup.persona,
            Persona::Answers {
                barges_in: true,
                ..
            }
        )
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
                Command::Play {
                    id,
                    barge_in,
                    prompt,
                    language,
                } => {
                    self.playing = Some(id);
                    self.playing_barge_in = barge_in;
                    let encoded = self
                        .prompts
                        .as_ref()
                        .and_then(|l| l.get(&prompt, &language, AudioCodec::Pcmu))
                        .cloned();
                    self.expect(encoded.as_ref());
                }
                Command::StopPlayback { .. } => {
                    // Our key cut the prompt short: what follows is new.
                    self.reset_heard();
                }
                Command::CollectDigits { question, .. } => {
                    // A reprompt: the resident has heard these options.
                    let question = question.to_string();
                    let heard = self.question.as_deref() == Some(question.as_str());
                    self.question = Some(question);
                    self.waiting = Waiting::Keys;
                    if (self.is_brisk() || heard) && self.playing.is_some() && self.playing_barge_in
                    {
                        // Heard enough of the question: answer over it.
                        let after = if heard {
                            REPROMPT_BARGE_IN_AFTER
                        } else {
                            BARGE_IN_AFTER
                        };
                        let listen = between(after, splitmix(&mut self.rng));
                        self.plan_keys(now, now + listen, stats);
                    }
                }
                Command::StartRecord {
                    id,
                    beep,
                    finish_key,
                    ..
                } => {
                    self.finish_key = finish_key;
                    if beep {
                        let beep = self
                            .prompts
                            .as_ref()
                            .and_then(|l| l.beep(AudioCodec::Pcmu))
                            .cloned();
                        self.expect(beep.as_ref());
                    }
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
                Command::StopRecord { id } if self.finishing == Some(id) => {
                    self.finishing = None;
                    let duration = self.voice.duration();
                    self.shadow.handle_event(
                        now,
                        Event::RecordingFinished {
                            id,
                            duration,
                            reason: RecordingEnd::FinishKey,
                        },
                    );
                }
                _ => {}
            }
        }
    }

    /// Picks the keys for the question being asked and schedules them
    /// after a think from `from` (the prompt's end, or a moment into it
    /// for a resident who barges in).
    fn plan_keys(&mut self, now: Instant, from: Instant, stats: &mut PopulationStats) {
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
        self.schedule_keys(from.max(now), &keys, stats);
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
