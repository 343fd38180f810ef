//! REGISTER (RFC 3261 section 10): bind our Contact at a registrar, answer
//! its digest challenge, and refresh before the binding expires.

use super::dialog::{new_call_id, new_tag};
use super::{TimerOwner, TxPurpose, UaEvent, UserAgent};
use crate::digest::{answer_header, authorization, challenge_header};
use crate::message::{HeaderAccess, HeaderName, Method, Request, Response, Uri};
use crate::transport::Peer;
use std::cmp::Reverse;
use std::time::{Duration, Instant};

/// Identifies a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(pub u64);

#[derive(Debug)]
pub(crate) struct Registration {
    registrar: Uri,
    aor: String,
    destination: Peer,
    expires: u32,
    call_id: String,
    tag: String,
    cseq: u32,
    auth_tries: u32,
    nonce_count: u32,
    last_nonce: Option<String>,
    refresh_at: Option<Instant>,
}

/// When to refresh a binding granted for `expires` seconds: halfway for
/// short bindings, a minute early for long ones, so a lost REGISTER still
/// has time for Timer F and a retry.
fn refresh_after(expires: u32) -> Duration {
    let secs = u64::from(expires);
    Duration::from_secs((secs / 2).max(secs.saturating_sub(60)).max(1))
}

impl UserAgent {
    /// Registers `aor` (e.g. `sip:survey@pbx.example`) at `registrar`,
    /// sending to `destination`, for `expires` seconds; refreshed until
    /// [`UserAgent::unregister`].
    pub fn register(
        &mut self,
        now: Instant,
        registrar: Uri,
        aor: &str,
        destination: Peer,
        expires: u32,
    ) -> RegistrationId {
        let id = RegistrationId(self.next_handle);
        self.next_handle += 1;
        let host = self.config.endpoint.local_addr.ip().to_string();
        self.registrations.insert(
            id,
            Registration {
                registrar,
                aor: aor.to_string(),
                destination,
                expires,
                call_id: new_call_id(&host),
                tag: new_tag(),
                cseq: 0,
                auth_tries: 0,
                nonce_count: 0,
                last_nonce: None,
                refresh_at: None,
            },
        );
        self.send_register(now, id, None);
        id
    }

    /// Removes the binding (REGISTER with Expires: 0) and stops refreshing.
    pub fn unregister(&mut self, now: Instant, id: RegistrationId) {
        if let Some(r) = self.registrations.get_mut(&id) {
            r.expires = 0;
            r.refresh_at = None;
            self.send_register(now, id, None);
        }
    }

    fn send_register(
        &mut self,
        now: Instant,
        id: RegistrationId,
        auth: Option<(HeaderName, String)>,
    ) {
        let contact = self.contact(
            self.registrations
                .get(&id)
                .map_or(crate::transport::Transport::Udp, |r| {
                    r.destination.transport
                }),
        );
        let Some(reg) = self.registrations.get_mut(&id) else {
            return;
        };
        reg.cseq += 1;
        let mut req = Request::new(Method::Register, reg.registrar.clone());
        req.headers.push(HeaderName::MaxForwards, "70");
        req.headers
            .push(HeaderName::From, format!("<{}>;tag={}", reg.aor, reg.tag));
        req.headers.push(HeaderName::To, format!("<{}>", reg.aor));
        req.headers.push(HeaderName::CallId, reg.call_id.as_str());
        req.headers
            .push(HeaderName::CSeq, format!("{} REGISTER", reg.cseq));
        req.headers.push(HeaderName::Contact, contact);
        req.headers
            .push(HeaderName::Expires, reg.expires.to_string());
        req.headers
            .push(HeaderName::UserAgent, self.config.user_agent.as_str());
        if let Some((name, value)) = auth {
            req.headers.push(name, value);
        }
        let dest = reg.destination;
        let tx = self.endpoint.send_request(now, req, dest);
        self.by_tx.insert(tx, TxPurpose::Register(id));
    }

    pub(super) fn on_register_response(
        &mut self,
        now: Instant,
        id: RegistrationId,
        response: Response,
    ) {
        let status = response.status;
        if status < 200 {
            return;
        }
        if (status == 401 || status == 407) && self.answer_register_challenge(now, id, &response) {
            return;
        }
        let Some(reg) = self.registrations.get_mut(&id) else {
            return;
        };
        reg.auth_tries = 0;
        if (200..300).contains(&status) {
            if reg.expires == 0 {
                self.registrations.remove(&id);
                return;
            }
            let granted = response
                .contacts()
                .ok()
                .and_then(|c| c.iter().find_map(|n| n.params.get("expires")?.parse().ok()))
                .or(response.expires().ok().flatten())
                .unwrap_or(reg.expires);
            let at = now + refresh_after(granted);
            reg.refresh_at = Some(at);
            self.timers
                .push(Reverse((at, TimerOwner::Registration(id))));
            self.events.push_back(UaEvent::Registered {
                registration: id,
                expires: granted,
            });
        } else {
            self.registrations.remove(&id);
            self.events.push_back(UaEvent::RegistrationFailed {
                registration: id,
                status,
            });
        }
    }

    fn answer_register_challenge(
        &mut self,
        now: Instant,
        id: RegistrationId,
        response: &Response,
    ) -> bool {
        let Some(creds) = self.config.credentials.clone() else {
            return false;
        };
        let Some(reg) = self.registrations.get_mut(&id) else {
            return false;
        };
        if reg.auth_tries >= 2 {
            return false;
        }
        let challenges = response
            .challenges(challenge_header(response.status))
            .unwrap_or_default();
        let Some(ch) = challenges.first() else {
            return false;
        };
        let nonce = ch.params.get("nonce").map(str::to_string);
        if nonce == reg.last_nonce {
            reg.nonce_count += 1;
        } else {
            reg.nonce_count = 1;
            reg.last_nonce = nonce;
        }
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let uri = reg.registrar.to_string();
        let Ok(value) = authorization(ch, &creds, "REGISTER", &uri, reg.nonce_count, &cnonce)
        else {
            return false;
        };
        reg.auth_tries += 1;
        self.send_register(now, id, Some((answer_header(response.status), value)));
        true
    }

    pub(super) fn on_register_timeout(&mut self, _now: Instant, id: RegistrationId) {
        if self.registrations.remove(&id).is_some() {
            self.events.push_back(UaEvent::RegistrationFailed {
                registration: id,
                status: 408,
            });
        }
    }

    pub(super) fn on_registration_timer(&mut self, now: Instant, id: RegistrationId, at: Instant) {
        let due = self
            .registrations
            .get(&id)
            .is_some_and(|r| r.refresh_at == Some(at));
        if due {
            if let Some(r) = self.registrations.get_mut(&id) {
                r.refresh_at = None;
            }
            self.send_register(now, id, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::refresh_after;
    use std::time::Duration;

    #[test]
    fn refreshes_before_expiry() {
        assert_eq!(refresh_after(3600), Duration::from_secs(3540));
        assert_eq!(refresh_after(60), Duration::from_secs(30));
        assert_eq!(refresh_after(1), Duration::from_secs(1));
    }
}
