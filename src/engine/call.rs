//! One survey call: its media session, its interpreter, its timers, and
//! the mapping from the interpreter's commands to media and SIP actions.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo_ivr::{
    Command, Event, Interpreter, PlaybackId, RecordingEnd, RecordingId, StepId, SurveyScript,
    TimerId,
};
use kuulo_media::recording::{RecordingConfig, RecordingOutcome};
use kuulo_media::sdp::{AudioCodec, SessionDescription};
use kuulo_media::session::{MediaSession, SessionEvent};
use kuulo_sip::ua::{CallHandle, UserAgent};

use super::media_queue::MediaQueue;
use super::{FastMap, PromptLibrary, StoreOp};

/// What a call may touch outside itself while it runs.
pub(super) struct Ctx<'a> {
    pub ua: &'a mut UserAgent,
    pub prompts: &'a PromptLibrary,
    pub store: &'a mut VecDeque<StoreOp>,
    pub media_out: &'a mut MediaQueue,
    pub routes: &'a mut FastMap<SocketAddr, CallHandle>,
}

/// A recording asked for by the interpreter: waiting for its beep to end,
/// or under way.
#[derive(Debug)]
struct PendingRecord {
    id: RecordingId,
    question: StepId,
    config: RecordingConfig,
    /// The interpreter asked to stop it (its finish key).
    stop_requested: bool,
}

/// One call's state in the engine.
#[derive(Debug)]
pub(super) struct Call {
    pub handle: CallHandle,
    pub sip_call_id: String,
    pub span: tracing::Span,
    /// Our SDP offer, for outbound calls until the answer comes.
    pub offer: Option<SessionDescription>,
    pub media: Option<MediaSession>,
    pub codec: AudioCodec,
    pub interp: Interpreter,
    /// The survey has begun (media confirmed).
    pub started: bool,
    /// We are hanging up (shutdown); the caller hears nothing more.
    pub closing: bool,
    /// The call broke (unusable SDP answer): store it as failed.
    pub failed: bool,
    /// The local RTP port of the call's media (RTCP is the next one):
    /// the shard's own, or the pair the port pool gave it.
    pub local_rtp_port: u16,
    /// The deadline the engine's timer heap holds for this call.
    pub scheduled: Option<Instant>,
    /// The addresses routing media to this call (the SDP's and any the
    /// session latched to), removed with it: no scan of every route.
    pub route_keys: Vec<SocketAddr>,
    /// The interpreter's timers; a handful at most, so a list.
    timers: Vec<(TimerId, Instant)>,
    playing: Option<PlaybackId>,
    beep_then: Option<PendingRecord>,
    recording: Option<PendingRecord>,
}

impl Call {
    pub fn new(
        handle: CallHandle,
        sip_call_id: &str,
        script: Arc<SurveyScript>,
        offer: Option<SessionDescription>,
        local_rtp_port: u16,
    ) -> Call {
        Call {
            handle,
            sip_call_id: sip_call_id.to_owned(),
            span: tracing::info_span!("call", call_id = %sip_call_id),
            offer,
            media: None,
            codec: AudioCodec::Pcmu,
            interp: Interpreter::new(script),
            started: false,
            closing: false,
            failed: false,
            local_rtp_port,
            scheduled: None,
            route_keys: Vec::new(),
            timers: Vec::new(),
            playing: None,
            beep_then: None,
            recording: None,
        }
    }

    pub fn attach_media(&mut self, media: MediaSession, codec: AudioCodec) {
        self.media = Some(media);
        self.codec = codec;
    }

    /// Routes media from `addr` to this call.
    pub fn add_route(&mut self, routes: &mut FastMap<SocketAddr, CallHandle>, addr: SocketAddr) {
        routes.insert(addr, self.handle);
        if !self.route_keys.contains(&addr) {
            self.route_keys.push(addr);
        }
    }

    /// Takes this call's routes out (those not since taken by another)
    /// and returns the addresses removed.
    pub fn remove_routes(
        &mut self,
        routes: &mut FastMap<SocketAddr, CallHandle>,
    ) -> Vec<SocketAddr> {
        let mut removed = std::mem::take(&mut self.route_keys);
        removed.retain(|addr| {
            let ours = routes.get(addr) == Some(&self.handle);
            if ours {
                routes.remove(addr);
            }
            ours
        });
        removed
    }

    /// Starts the survey; false if it had already started or cannot.
    pub fn start(&mut self, now: Instant) -> bool {
        if self.started || self.media.is_none() || self.closing {
            return false;
        }
        self.started = true;
        let _enter = self.span.clone().entered();
        tracing::info!("survey started");
        self.interp.handle_event(now, Event::CallStarted);
        true
    }

    /// The earliest of the media tick and the survey's timers.
    pub fn next_timeout(&self) -> Option<Instant> {
        let media = self.media.as_ref().and_then(MediaSession::poll_timeout);
        let timer = self.timers.iter().map(|(_, at)| *at).min();
        [media, timer].into_iter().flatten().min()
    }

    /// Runs the media ticks and fires the survey's timers due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(m) = self.media.as_mut() {
            m.handle_timeout(now);
        }
        let mut due: Vec<TimerId> = Vec::new();
        self.timers.retain(|(id, at)| {
            if *at <= now {
                due.push(*id);
                false
            } else {
                true
            }
        });
        for id in due {
            self.interp.handle_event(now, Event::TimerFired(id));
        }
    }

    /// Moves events between media and interpreter until both are quiet,
    /// then hands the media output to the engine.
    pub fn drive(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let span = self.span.clone();
        let _enter = span.enter();
        loop {
            let mut progressed = false;
            while let Some(ev) = self.media.as_mut().and_then(MediaSession::poll_event) {
                progressed = true;
                self.on_media_event(now, ev, ctx);
            }
            while let Some(cmd) = self.interp.poll_command() {
                progressed = true;
                self.on_command(now, cmd, ctx);
            }
            if !progressed {
                break;
            }
        }
        self.flush_media(ctx);
    }

    /// The call is over on the SIP side: keep a recording under way,
    /// tell the interpreter, and close the media.
    pub fn end(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        let span = self.span.clone();
        let _enter = span.enter();
        self.beep_then = None;
        if let Some(active) = self.recording.take() {
            if let Some(m) = self.media.as_mut() {
                m.stop_recording();
                while let Some(ev) = m.poll_event() {
                    if let SessionEvent::RecordingFinished(rec) = ev {
                        self.finish_recording(now, active, rec, RecordingEnd::HungUp, ctx);
                        break;
                    }
                }
            }
        }
        if !self.interp.is_finished() {
            self.interp.handle_event(now, Event::HungUp);
        }
        // Only the writes matter now: nothing can be played or sent.
        while let Some(cmd) = self.interp.poll_command() {
            match cmd {
                Command::StoreAnswer { question, value } => ctx.store.push_back(StoreOp::Answer {
                    call: self.handle,
                    question,
                    value,
                }),
                Command::OptOut => ctx.store.push_back(StoreOp::OptOut { call: self.handle }),
                _ => {}
            }
        }
        if let Some(m) = self.media.as_mut() {
            m.close(now);
        }
        self.flush_media(ctx);
    }

    fn flush_media(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(m) = self.media.as_mut() {
            while let Some(t) = m.poll_transmit() {
                ctx.media_out.push(&t, self.local_rtp_port);
            }
        }
    }

    fn on_media_event(&mut self, now: Instant, ev: SessionEvent, ctx: &mut Ctx<'_>) {
        match ev {
            SessionEvent::PlaybackFinished => {
                if let Some(rec) = self.beep_then.take() {
                    if let Some(m) = self.media.as_mut() {
                        m.start_recording(rec.config);
                    }
                    self.recording = Some(rec);
                } else if let Some(id) = self.playing.take() {
                    self.interp
                        .handle_event(now, Event::PlaybackFinished { id });
                }
            }
            SessionEvent::Dtmf { digit, source, .. } => {
                tracing::debug!(%digit, ?source, "key");
                if self.started && !self.closing {
                    self.interp.handle_event(now, Event::Digit(digit));
                }
            }
            SessionEvent::RecordingFinished(rec) => {
                if let Some(active) = self.recording.take() {
                    let reason = match rec.outcome {
                        _ if active.stop_requested => RecordingEnd::FinishKey,
                        RecordingOutcome::MaxLength => RecordingEnd::MaxDuration,
                        RecordingOutcome::Silence | RecordingOutcome::NoSpeech => {
                            RecordingEnd::Silence
                        }
                        RecordingOutcome::Stopped => RecordingEnd::Stopped,
                    };
                    self.finish_recording(now, active, rec, reason, ctx);
                }
            }
            SessionEvent::Inactive => {
                // No RTP for the inactivity timeout: the caller is gone
                // (a dropped mobile call often sends no BYE).
                tracing::info!("no media from the caller: hanging up");
                self.closing = true;
                ctx.ua.hangup(now, self.handle);
            }
            SessionEvent::RemoteLatched(addr) => {
                tracing::debug!(%addr, "media latched");
                self.add_route(ctx.routes, addr);
            }
        }
    }

    fn finish_recording(
        &mut self,
        now: Instant,
        active: PendingRecord,
        rec: kuulo_media::recording::Recording,
        reason: RecordingEnd,
        ctx: &mut Ctx<'_>,
    ) {
        let duration = if rec.heard_speech {
            rec.duration()
        } else {
            Duration::ZERO
        };
        tracing::info!(question = %active.question, ?reason, ?duration, "recording finished");
        if !duration.is_zero() {
            ctx.store.push_back(StoreOp::Recording {
                call: self.handle,
                question: active.question.clone(),
                recording: rec,
            });
        }
        self.interp.handle_event(
            now,
            Event::RecordingFinished {
                id: active.id,
                duration,
                reason,
            },
        );
    }

    fn on_command(&mut self, now: Instant, cmd: Command, ctx: &mut Ctx<'_>) {
        match cmd {
            Command::Play {
                id,
                prompt,
                language,
                ..
            } => {
                let audio = ctx.prompts.get(&prompt, &language, self.codec);
                let played = match (audio, self.media.as_mut()) {
                    (Some(audio), Some(m)) if !self.closing => m.play(Arc::clone(audio)).is_ok(),
                    _ => false,
                };
                if played {
                    self.playing = Some(id);
                } else {
                    // Every prompt is loaded at start-up, so this is a
                    // closing call or a bug; skipping keeps the survey
                    // moving instead of waiting forever.
                    tracing::warn!(%prompt, %language, "prompt not played");
                    self.interp
                        .handle_event(now, Event::PlaybackFinished { id });
                }
            }
            Command::StopPlayback { id } => {
                if self.playing == Some(id) {
                    self.playing = None;
                    if let Some(m) = self.media.as_mut() {
                        m.stop_playback();
                    }
                }
            }
            Command::CollectDigits { .. } => {}
            Command::StartRecord {
                id,
                question,
                beep,
                max_duration,
                silence,
                ..
            } => {
                let defaults = RecordingConfig::default();
                let rec = PendingRecord {
                    id,
                    question,
                    config: RecordingConfig {
                        max_length: max_duration,
                        end_silence: silence.unwrap_or(defaults.end_silence),
                        ..defaults
                    },
                    stop_requested: false,
                };
                let Some(m) = self.media.as_mut() else {
                    return;
                };
                self.playing = None;
                let beeped = beep
                    && ctx
                        .prompts
                        .beep(self.codec)
                        .is_some_and(|b| m.play(Arc::clone(b)).is_ok());
                if beeped {
                    self.beep_then = Some(rec);
                } else {
                    m.start_recording(rec.config);
                    self.recording = Some(rec);
                }
            }
            Command::StopRecord { id } => {
                if self.beep_then.as_ref().is_some_and(|r| r.id == id) {
                    // Stopped during the beep: nothing was recorded.
                    self.beep_then = None;
                    if let Some(m) = self.media.as_mut() {
                        m.stop_playback();
                    }
                    self.interp.handle_event(
                        now,
                        Event::RecordingFinished {
                            id,
                            duration: Duration::ZERO,
                            reason: RecordingEnd::FinishKey,
                        },
                    );
                } else if let Some(active) = self.recording.as_mut().filter(|r| r.id == id) {
                    active.stop_requested = true;
                    if let Some(m) = self.media.as_mut() {
                        m.stop_recording();
                    }
                }
            }
            Command::StartTimer { id, after } => self.timers.push((id, now + after)),
            Command::CancelTimer { id } => self.timers.retain(|(t, _)| *t != id),
            Command::StoreAnswer { question, value } => {
                tracing::debug!(%question, %value, "answer");
                ctx.store.push_back(StoreOp::Answer {
                    call: self.handle,
                    question,
                    value,
                });
            }
            Command::OptOut => {
                tracing::info!("opted out");
                ctx.store.push_back(StoreOp::OptOut { call: self.handle });
            }
            Command::HangUp { reason } => {
                tracing::info!(?reason, "hanging up");
                self.closing = true;
                self.playing = None;
                if let Some(m) = self.media.as_mut() {
                    m.stop_playback();
                }
                ctx.ua.hangup(now, self.handle);
            }
        }
    }
}
