//! The calling side: INVITE, provisional responses, ACK, CANCEL, digest
//! retries.

use super::dialog::{new_call_id, new_tag, sdp_body, Dialog, DialogRole};
use super::{Call, CallHandle, CallState, EndReason, TxPurpose, UaEvent, UserAgent};
use crate::digest::{answer_header, authorization, challenge_header};
use crate::message::{HeaderAccess, HeaderName, Method, Request, Response, Uri};
use crate::transaction::TransactionId;
use crate::transport::Peer;
use bytes::Bytes;
use std::time::Instant;

/// How many times one request is retried with fresh credentials before the
/// challenge is reported as a failure (a wrong password must not loop).
const MAX_AUTH_TRIES: u32 = 2;

impl UserAgent {
    /// Places a call to `target`, sending the INVITE to `destination` (the
    /// trunk or the callee) with `offer` as its SDP body.
    pub fn invite(
        &mut self,
        now: Instant,
        target: Uri,
        destination: Peer,
        offer: Bytes,
    ) -> CallHandle {
        let handle = self.alloc_handle();
        let host = self.config.endpoint.local_addr.ip().to_string();
        let contact = self.contact(destination.transport);
        let dialog = Dialog {
            role: DialogRole::Uac,
            call_id: new_call_id(&host),
            local_tag: new_tag(),
            remote_tag: None,
            local_uri: self.config.from.clone(),
            remote_uri: format!("<{target}>"),
            local_cseq: 1,
            remote_cseq: None,
            remote_target: target,
            route_set: Vec::new(),
            peer: destination,
        };
        let mut invite = dialog.request_with_cseq(Method::Invite, 1, &contact);
        self.decorate_invite(&mut invite, &offer);
        let tx = self.endpoint.send_request(now, invite.clone(), destination);
        // The endpoint added our Via; keep the INVITE as sent, for CANCEL.
        let invite = self
            .endpoint
            .transaction(tx)
            .map(|t| t.request.clone())
            .unwrap_or(invite);
        tracing::debug!(call_id = %dialog.call_id, "INVITE sent");
        self.by_tx.insert(tx, TxPurpose::Invite(handle));
        self.by_dialog
            .insert((dialog.call_id.clone(), dialog.local_tag.clone()), handle);
        self.calls
            .insert(handle, Call::new(handle, dialog, invite, tx, offer));
        handle
    }

    fn decorate_invite(&self, invite: &mut Request, offer: &Bytes) {
        if let Some(pai) = &self.config.p_asserted_identity {
            invite
                .headers
                .push(HeaderName::PAssertedIdentity, pai.as_str());
        }
        invite.headers.push(
            HeaderName::Allow,
            "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO",
        );
        invite
            .headers
            .push(HeaderName::UserAgent, self.config.user_agent.as_str());
        if !offer.is_empty() {
            invite
                .headers
                .push(HeaderName::ContentType, "application/sdp");
            invite.body = offer.clone();
        }
    }

    /// Cancels a call that has not been answered. RFC 3261 9.1: a CANCEL
    /// may only follow a provisional response, so before one arrives the
    /// cancel is held and sent when it does.
    pub(super) fn cancel(&mut self, now: Instant, h: CallHandle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        call.state = CallState::Cancelling;
        call.deadline = Some(now + self.config.endpoint.timers.t1x64());
        if call.got_provisional {
            self.send_cancel(now, h);
        } else {
            call.cancel_pending = true;
        }
        self.schedule(h);
    }

    fn send_cancel(&mut self, now: Instant, h: CallHandle) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        call.cancel_pending = false;
        let inv = &call.invite;
        let mut cancel = Request::new(Method::Cancel, inv.uri.clone());
        for name in [HeaderName::Via] {
            if let Some(v) = inv.headers.get(&name) {
                cancel.headers.push(name, v);
            }
        }
        for r in inv.headers.get_all(&HeaderName::Route) {
            cancel.headers.push(HeaderName::Route, r);
        }
        cancel.headers.push(HeaderName::MaxForwards, "70");
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.headers.get(&name) {
                cancel.headers.push(name, v);
            }
        }
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(1);
        cancel
            .headers
            .push(HeaderName::CSeq, format!("{seq} CANCEL"));
        let peer = call.dialog.peer;
        let tx = self.endpoint.send_request(now, cancel, peer);
        self.by_tx.insert(tx, TxPurpose::Cancel);
    }

    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        h: CallHandle,
        tx: TransactionId,
        response: Response,
    ) {
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if call.invite_tx != tx {
            return;
        }
        let status = response.status;
        let sdp = sdp_body(response.content_type(), &response.body);
        match status {
            100 => {
                call.got_provisional = true;
                if call.cancel_pending {
                    self.send_cancel(now, h);
                }
            }
            101..=199 => {
                call.got_provisional = true;
                if let Some(tag) = response
                    .to_header()
                    .ok()
                    .and_then(|t| t.tag().map(str::to_string))
                {
                    call.dialog.remote_tag.get_or_insert(tag);
                }
                if call.state == CallState::Calling {
                    call.state = CallState::Early;
                }
                if call.cancel_pending {
                    self.send_cancel(now, h);
                } else {
                    self.events.push_back(UaEvent::Progress {
                        call: h,
                        status,
                        early_sdp: sdp,
                    });
                }
            }
            200..=299 => self.on_invite_2xx(now, h, &response, sdp),
            401 | 407 if self.retry_with_auth(now, h, &response) => {}
            _ => {
                let cancelling = self
                    .calls
                    .get(&h)
                    .is_some_and(|c| c.state == CallState::Cancelling);
                let reason = if status == 487 && cancelling {
                    EndReason::Cancelled
                } else {
                    EndReason::Rejected {
                        status,
                        reason: response.reason.clone(),
                    }
                };
                self.end_call(h, reason);
            }
        }
    }

    fn on_invite_2xx(
        &mut self,
        now: Instant,
        h: CallHandle,
        response: &Response,
        sdp: Option<Bytes>,
    ) {
        let via = self.our_via(self.calls[&h].dialog.peer.transport);
        let contact = self.contact(self.calls[&h].dialog.peer.transport);
        let Some(call) = self.calls.get_mut(&h) else {
            return;
        };
        if let Some(ack) = &call.ack {
            // A retransmitted 2xx: our ACK was lost (RFC 3261 13.2.2.4).
            let hop = call.dialog.next_hop();
            let ack = ack.clone();
            self.endpoint.send_stateless(hop, ack);
            return;
        }
        call.dialog.confirm_from_response(response);
        let seq = call.invite.cseq().map(|c| c.seq).unwrap_or(1);
        let mut ack = call.dialog.ack_for_2xx(seq, &contact, via);
        for name in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
            for v in call.invite.headers.get_all(&name) {
                ack.headers.push(name.clone(), v);
            }
        }
        let ack = ack.to_bytes();
        let hop = call.dialog.next_hop();
        self.endpoint.send_stateless(hop, ack.clone());
        call.ack = Some(ack);
        call.deadline = None;
        let cancelled = call.state == CallState::Cancelling;
        call.state = CallState::Confirmed;
        if cancelled {
            // Our CANCEL crossed the callee's answer: end the call properly.
            self.send_bye(now, h);
            self.end_call(h, EndReason::Cancelled);
            return;
        }
        self.events.push_back(UaEvent::Answered {
            call: h,
            answer: sdp,
        });
    }

    pub(super) fn on_stray_2xx(&mut self, response: &Response) {
        let (Ok(call_id), Ok(from)) = (response.call_id(), response.from_header()) else {
            return;
        };
        let Some(tag) = from.tag() else { return };
        let Some(h) = self
            .by_dialog
            .get(&(call_id.to_string(), tag.to_string()))
            .copied()
        else {
            return;
        };
        if let Some(call) = self.calls.get(&h) {
            if let Some(ack) = call.ack.clone() {
                let hop = call.dialog.next_hop();
                self.endpoint.send_stateless(hop, ack);
            }
        }
    }

    /// Re-sends the INVITE with credentials for a 401/407. Returns false
    /// when there are no credentials or they were already refused.
    fn retry_with_auth(&mut self, now: Instant, h: CallHandle, response: &Response) -> bool {
        let Some(creds) = self.config.credentials.clone() else {
            return false;
        };
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let Some(call) = self.calls.get_mut(&h) else {
            return false;
        };
        if call.auth_tries >= MAX_AUTH_TRIES {
            return false;
        }
        let challenges = response
            .challenges(challenge_header(response.status))
            .unwrap_or_default();
        let uri = call.invite.uri.to_string();
        let Some(value) = challenges
            .iter()
            .find_map(|c| authorization(c, &creds, "INVITE", &uri, 1, &cnonce).ok())
        else {
            return false;
        };
        call.auth_tries += 1;
        call.dialog.local_cseq += 1;
        let mut invite = call.invite.clone();
        invite.headers.remove(&HeaderName::Via);
        invite.headers.remove(&answer_header(response.status));
        invite.headers.set(
            HeaderName::CSeq,
            format!("{} INVITE", call.dialog.local_cseq),
        );
        invite.headers.push(answer_header(response.status), value);
        let peer = call.dialog.peer;
        let tx = self.endpoint.send_request(now, invite, peer);
        if let Some(t) = self.endpoint.transaction(tx) {
            call.invite = t.request.clone();
        }
        call.invite_tx = tx;
        call.got_provisional = false;
        self.by_tx.insert(tx, TxPurpose::Invite(h));
        true
    }
}
