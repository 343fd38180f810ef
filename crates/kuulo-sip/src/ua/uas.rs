//! The answering side, and every request the UA receives: INVITE, ACK,
//! CANCEL, BYE, re-INVITE, UPDATE, OPTIONS, and the methods it refuses.

use super::dialog::{new_tag, sdp_body, Dialog, DialogRole};
use super::{Call, CallHandle, CallState, EndReason, TxPurpose, UaEvent, UserAgent};
use crate::endpoint::response_to;
use crate::message::{HeaderAccess, HeaderName, Method, NameAddr, Request, Response};
use crate::transaction::TransactionId;
use crate::transport::Peer;
use bytes::Bytes;
use std::time::Instant;

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

/// A From/To value without its tag, as the dialog stores it.
fn without_tag(value: &str) -> String {
    match NameAddr::parse(value) {
        Ok(mut n) => {
            n.params.remove("tag");
            n.to_string()
        }
        Err(_) => value.to_string(),
    }
}

impl UserAgent {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        tx: TransactionId,
        request: Request,
        source: Peer,
    ) {
        let to_tag = request
            .to_header()
            .ok()
            .and_then(|t| t.tag().map(str::to_string));
        if let Some(tag) = to_tag {
            self.on_in_dialog_request(now, tx, request, tag);
            return;
        }
        match request.method {
            Method::Invite => self.on_new_invite(now, tx, request, source),
            Method::Cancel => self.on_cancel(now, tx, &request),
            Method::Options => {
                let r = self.options_response(&request);
                self.endpoint.send_response(now, tx, &r);
            }
            Method::Bye | Method::Update | Method::Prack | Method::Info => {
                self.respond(now, tx, &request, 481);
            }
            Method::Other(_) => self.respond(now, tx, &request, 501),
            _ => self.respond(now, tx, &request, 405),
        }
    }

    fn respond(&mut self, now: Instant, tx: TransactionId, request: &Request, status: u16) {
        let mut r = response_to(request, status, None);
        if status == 405 || status == 501 {
            r.headers.push(HeaderName::Allow, ALLOW);
        }
        r.headers
            .push(HeaderName::Server, self.config.user_agent.as_str());
        self.endpoint.send_response(now, tx, &r);
    }

    fn options_response(&self, request: &Request) -> Response {
        let mut r = response_to(request, 200, None);
        r.headers.push(HeaderName::Allow, ALLOW);
        r.headers.push(HeaderName::Accept, "application/sdp");
        r.headers
            .push(HeaderName::Server, self.config.user_agent.as_str());
        r
    }

    fn on_new_invite(&mut self, now: Instant, tx: TransactionId, request: Request, source: Peer) {
        // RFC 3261 8.2.2.2: the same request arriving by another path (a
        // fork looping back) is a merged request: 482.
        let (Ok(call_id), Ok(from)) = (request.call_id(), request.from_header()) else {
            self.respond(now, tx, &request, 400);
            return;
        };
        let remote_tag = from.tag().unwrap_or_default().to_string();
        let merged = self.calls.values().any(|c| {
            c.dialog.role == DialogRole::Uas
                && c.dialog.call_id == call_id
                && c.dialog.remote_tag.as_deref() == Some(remote_tag.as_str())
                && c.invite.cseq().ok() == request.cseq().ok()
                && c.invite_tx != tx
        });
        if merged {
            let r = response_to(&request, 482, None);
            self.endpoint.send_response(now, tx, &r);
            return;
        }
        let Some(contact) = request.contacts().ok().and_then(|c| c.into_iter().next()) else {
            let r = response_to(
                &request,
                400,
                Some("Bad Request (INVITE without a valid Contact)"),
            );
            self.endpoint.send_response(now, tx, &r);
            return;
        };
        let handle = self.alloc_handle();
        let cseq = request.cseq().map(|c| c.seq).unwrap_or(0);
        let to_value = request.headers.get(&HeaderName::To).unwrap_or_default();
        let from_value = request.headers.get(&HeaderName::From).unwrap_or_default();
        let dialog = Dialog {
            role: DialogRole::Uas,
            call_id: call_id.to_string(),
            local_tag: new_tag(),
            remote_tag: Some(remote_tag),
            local_uri: without_tag(to_value),
            remote_uri: without_tag(from_value),
            local_cseq: 0,
            remote_cseq: Some(cseq),
            remote_target: contact.uri,
            route_set: request
                .headers
                .get_all(&HeaderName::RecordRoute)
                .map(str::to_string)
                .collect(),
            peer: source,
        };
        let event = UaEvent::Incoming {
            call: handle,
            call_id: dialog.call_id.clone(),
            from: from_value.to_string(),
            to: to_value.to_string(),
            request_uri: request.uri.to_string(),
            offer: sdp_body(request.content_type(), &request.body),
        };
        tracing::debug!(call_id = %dialog.call_id, "incoming INVITE");
        self.by_tx.insert(tx, TxPurpose::Invite(handle));
        self.by_dialog
            .insert((dialog.call_id.clone(), dialog.local_tag.clone()), handle);
        self.calls
            .insert(handle, Call::new(handle, dialog, request, tx, Bytes::new()));
        self.events.push_back(event);
    }

    /// A response to the INVITE of an incoming call, carrying our To tag.
    fn invite_response(&self, call: &Call, status: u16) -> Response {
        let mut r = response_to(&call.invite, status, None);
        let to = format!("{};tag={}", call.dialog.local_uri, call.dialog.local_tag);
        r.headers.set(HeaderName::To, to);
        if status < 300 && status > 100 {
            for rr in call.invite.headers.get_all(&HeaderName::RecordRoute) {
                r.headers.push(HeaderName::RecordRoute, rr);
            }
            r.headers.push(
                HeaderName::Contact,
                self.contact(call.dialog.peer.transport),
            );
        }
        r.headers
            .push(HeaderName::Server, self.config.user_agent.as_str());
        r
    }

    /// Sends 180 Ringing, or 183 Session Progress with early media.
    pub fn ring(&mut self, now: Instant, call: CallHandle, early_sdp: Option<Bytes>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.dialog.role != DialogRole::Uas
            || c.state != CallState::Calling && c.state != CallState::Early
        {
            return;
        }
        c.state = CallState::Early;
        let status = if early_sdp.is_some() { 183 } else { 180 };
        let c = &self.calls[&call];
        let mut r = self.invite_response(c, status);
        if let Some(sdp) = early_sdp {
            r.headers.push(HeaderName::ContentType, "application/sdp");
            r.body = sdp;
        }
        let tx = c.invite_tx;
        self.endpoint.send_response(now, tx, &r);
    }

    /// Answers an incoming call with 200 OK and `sdp`. The 2xx is
    /// retransmitted until the ACK arrives; without one, the call is ended
    /// with a BYE after 64*T1.
    pub fn answer(&mut self, now: Instant, call: CallHandle, sdp: Bytes) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.dialog.role != DialogRole::Uas
            || !matches!(c.state, CallState::Calling | CallState::Early)
        {
            return;
        }
        let mut r = self.invite_response(c, 200);
        r.headers.push(HeaderName::Allow, ALLOW);
        if !sdp.is_empty() {
            r.headers.push(HeaderName::ContentType, "application/sdp");
            r.body = sdp.clone();
        }
        let tx = c.invite_tx;
        self.endpoint.send_response(now, tx, &r);
        let timers = self.config.endpoint.timers;
        let reliable = c.dialog.peer.transport.is_reliable();
        let c = self.calls.get_mut(&call).expect("checked above");
        c.local_sdp = sdp;
        c.state = CallState::Answered;
        c.ok = Some(r.to_bytes());
        c.ok_interval = timers.t1;
        c.ok_next = (!reliable).then_some(now + timers.t1);
        c.deadline = Some(now + timers.t1x64());
        self.schedule(call);
    }

    /// Refuses an incoming call (486 busy, 603 decline, 480...).
    pub fn reject(&mut self, now: Instant, call: CallHandle, status: u16) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.dialog.role != DialogRole::Uas
            || !matches!(c.state, CallState::Calling | CallState::Early)
        {
            return;
        }
        let status = status.clamp(300, 699);
        let r = self.invite_response(c, status);
        let tx = c.invite_tx;
        self.endpoint.send_response(now, tx, &r);
        let reason = r.reason.clone();
        self.end_call(call, EndReason::Rejected { status, reason });
    }

    /// Answers a re-INVITE or UPDATE offer (when `auto_answer_reoffer` is
    /// off) with `sdp`.
    pub fn answer_reoffer(
        &mut self,
        now: Instant,
        call: CallHandle,
        tx: TransactionId,
        sdp: Bytes,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.local_sdp = sdp;
        let Some(t) = self.endpoint.transaction(tx) else {
            return;
        };
        let request = t.request.clone();
        let c = &self.calls[&call];
        self.send_reoffer_answer(now, c.handle, tx, &request);
    }

    fn send_reoffer_answer(
        &mut self,
        now: Instant,
        h: CallHandle,
        tx: TransactionId,
        request: &Request,
    ) {
        let Some(c) = self.calls.get(&h) else { return };
        let mut r = response_to(request, 200, None);
        r.headers
            .push(HeaderName::Contact, self.contact(c.dialog.peer.transport));
        r.headers.push(HeaderName::Allow, ALLOW);
        if let Some(se) = request.headers.get(&HeaderName::SessionExpires) {
            r.headers.push(HeaderName::SessionExpires, se);
            r.headers.push(HeaderName::Require, "timer");
        }
        if !c.local_sdp.is_empty() && !request.body.is_empty() {
            r.headers.push(HeaderName::ContentType, "application/sdp");
            r.body = c.local_sdp.clone();
        }
        self.endpoint.send_response(now, tx, &r);
        if request.method == Method::Invite {
            // RFC 3261 13.3.1.4 holds for every 2xx to an INVITE: the UA
            // core retransmits it until the ACK, re-INVITEs included.
            let timers = self.config.endpoint.timers;
            let c = self.calls.get_mut(&h).expect("checked above");
            c.ok = Some(r.to_bytes());
            c.ok_interval = timers.t1;
            c.ok_next = (!c.dialog.peer.transport.is_reliable()).then_some(now + timers.t1);
            c.deadline = Some(now + timers.t1x64());
            c.reinvite_awaiting_ack = true;
            self.schedule(h);
        }
    }

    fn on_in_dialog_request(
        &mut self,
        now: Instant,
        tx: TransactionId,
        request: Request,
        to_tag: String,
    ) {
        let call_id = request.call_id().unwrap_or_default().to_string();
        let Some(h) = self.by_dialog.get(&(call_id, to_tag)).copied() else {
            if request.method == Method::Options {
                let r = self.options_response(&request);
                self.endpoint.send_response(now, tx, &r);
            } else {
                self.respond(now, tx, &request, 481);
            }
            return;
        };
        let seq = request.cseq().map(|c| c.seq).unwrap_or(0);
        let in_order = self
            .calls
            .get_mut(&h)
            .is_some_and(|c| c.dialog.accept_remote_cseq(seq));
        if !in_order && request.method != Method::Cancel {
            let r = response_to(
                &request,
                500,
                Some("Server Internal Error (CSeq out of order)"),
            );
            self.endpoint.send_response(now, tx, &r);
            return;
        }
        match request.method {
            Method::Bye => {
                self.respond(now, tx, &request, 200);
                self.end_call(h, EndReason::RemoteBye);
            }
            Method::Invite | Method::Update => {
                let offer = sdp_body(request.content_type(), &request.body);
                self.by_tx.insert(tx, TxPurpose::InDialogServer(h));
                if self.config.auto_answer_reoffer {
                    self.send_reoffer_answer(now, h, tx, &request);
                }
                // RFC 3261 12.2.2: a target refresh request updates the
                // remote target.
                if let (Some(c), Some(target)) = (
                    self.calls.get_mut(&h),
                    request.contacts().ok().and_then(|c| c.into_iter().next()),
                ) {
                    c.dialog.remote_target = target.uri;
                }
                self.events
                    .push_back(UaEvent::Reoffer { call: h, tx, offer });
            }
            Method::Options => {
                let r = self.options_response(&request);
                self.endpoint.send_response(now, tx, &r);
            }
            Method::Info => self.respond(now, tx, &request, 200),
            Method::Other(_) => self.respond(now, tx, &request, 501),
            _ => self.respond(now, tx, &request, 405),
        }
    }

    fn on_cancel(&mut self, now: Instant, tx: TransactionId, cancel: &Request) {
        let Some(invite_tx) = self.endpoint.find_invite_for_cancel(cancel) else {
            self.respond(now, tx, cancel, 481);
            return;
        };
        self.respond(now, tx, cancel, 200);
        let Some(TxPurpose::Invite(h)) = self.by_tx.get(&invite_tx).copied() else {
            return;
        };
        let Some(c) = self.calls.get(&h) else { return };
        if matches!(c.state, CallState::Calling | CallState::Early) {
            let r = self.invite_response(c, 487);
            self.endpoint.send_response(now, invite_tx, &r);
            self.end_call(h, EndReason::CancelledByPeer);
        }
    }

    pub(super) fn on_ack(&mut self, _now: Instant, ack: Request) {
        let (Ok(call_id), Ok(to)) = (ack.call_id(), ack.to_header()) else {
            return;
        };
        let Some(tag) = to.tag() else { return };
        let Some(h) = self
            .by_dialog
            .get(&(call_id.to_string(), tag.to_string()))
            .copied()
        else {
            tracing::debug!(call_id, "ACK for no dialog");
            return;
        };
        let Some(c) = self.calls.get_mut(&h) else {
            return;
        };
        if c.reinvite_awaiting_ack {
            c.reinvite_awaiting_ack = false;
            c.ok = None;
            c.ok_next = None;
            c.deadline = None;
            return;
        }
        if c.state != CallState::Answered {
            tracing::debug!(call_id, state = ?c.state, "ACK ignored");
            return;
        }
        c.state = CallState::Confirmed;
        c.ok = None;
        c.ok_next = None;
        c.deadline = None;
        let sdp = sdp_body(ack.content_type(), &ack.body);
        self.events.push_back(UaEvent::Confirmed { call: h, sdp });
    }
}
