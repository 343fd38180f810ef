//! Calls between two user agents in virtual time, through a network that
//! drops, delays, duplicates and reorders: every retransmission and timeout
//! path of RFC 3261 17 and 13 without a single sleep.

mod common;

use bytes::Bytes;
use common::{answer_immediately, ring_only, Fate, Pair, Side, LATENCY};
use kuulo_sip::message::Uri;
use kuulo_sip::ua::{EndReason, UaEvent};
use std::time::Duration;

const T1: Duration = Duration::from_millis(500);

fn target() -> Uri {
    Uri::parse("sip:survey@127.0.0.1:5080").unwrap()
}

fn start_call(p: &mut Pair) -> kuulo_sip::ua::CallHandle {
    let now = p.now;
    let peer = p.peer_b();
    p.a.invite(now, target(), peer, Bytes::from_static(b"v=0\r\n"))
}

fn ended(events: &[(Duration, UaEvent)]) -> Vec<EndReason> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            UaEvent::Ended { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn incoming_count(events: &[(Duration, UaEvent)]) -> usize {
    events
        .iter()
        .filter(|(_, e)| matches!(e, UaEvent::Incoming { .. }))
        .count()
}

#[test]
fn answered_call_then_local_bye_leaves_no_state() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    let call = start_call(&mut p);
    p.run_for(Duration::from_secs(1));
    assert!(p
        .events_a
        .iter()
        .any(|(_, e)| matches!(e, UaEvent::Progress { status: 180, .. })));
    assert!(p
        .events_a
        .iter()
        .any(|(_, e)| matches!(e, UaEvent::Answered { .. })));
    assert!(p
        .events_b
        .iter()
        .any(|(_, e)| matches!(e, UaEvent::Confirmed { .. })));
    assert_eq!(p.count(Side::B, "SIP/2.0 100"), 1);
    assert_eq!(p.count(Side::A, "ACK"), 1);
    assert_eq!(
        p.count(Side::B, "SIP/2.0 200"),
        1,
        "no 2xx retransmission once ACKed"
    );

    let now = p.now;
    p.a.hangup(now, call);
    p.run_until_idle(Duration::from_secs(120));
    assert_eq!(ended(&p.events_a), vec![EndReason::LocalBye]);
    assert_eq!(ended(&p.events_b), vec![EndReason::RemoteBye]);
    assert!(p.a.is_idle() && p.b.is_idle(), "transactions linger");
}

#[test]
fn lost_invites_are_retransmitted_by_timer_a() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    p.fate = Box::new(|side, line, n| {
        if side == Side::A && line.starts_with("INVITE") && n < 2 {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_for(Duration::from_secs(3));
    let invites: Vec<_> = p
        .sent
        .iter()
        .filter(|s| s.first_line.starts_with("INVITE"))
        .map(|s| s.at)
        .collect();
    assert_eq!(invites, vec![Duration::ZERO, T1, T1 * 3], "Timer A doubles");
    assert_eq!(incoming_count(&p.events_b), 1);
    assert!(p
        .events_a
        .iter()
        .any(|(_, e)| matches!(e, UaEvent::Answered { .. })));
}

#[test]
fn unanswered_invite_times_out_with_timer_b() {
    let mut p = Pair::new();
    p.fate = Box::new(|side, _, _| {
        if side == Side::A {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_until_idle(Duration::from_secs(60));
    assert_eq!(ended(&p.events_a), vec![EndReason::Timeout]);
    let (at, _) = p
        .events_a
        .iter()
        .find(|(_, e)| matches!(e, UaEvent::Ended { .. }))
        .unwrap();
    assert_eq!(*at, T1 * 64);
    // Sent at 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    assert_eq!(p.count(Side::A, "INVITE"), 7);
    assert!(p.a.is_idle());
}

#[test]
fn rejected_call_with_lost_ack_retransmits_final_response() {
    let mut p = Pair::new();
    p.policy_b = Some(Box::new(|ua, now, ev| {
        if let UaEvent::Incoming { call, .. } = ev {
            ua.reject(now, *call, 486);
        }
    }));
    p.fate = Box::new(|side, line, n| {
        if side == Side::A && line.starts_with("ACK") && n == 0 {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_until_idle(Duration::from_secs(60));
    assert_eq!(
        ended(&p.events_a),
        vec![EndReason::Rejected {
            status: 486,
            reason: "Busy Here".into()
        }]
    );
    assert_eq!(
        p.count(Side::B, "SIP/2.0 486"),
        2,
        "Timer G retransmits once"
    );
    assert_eq!(
        p.count(Side::A, "ACK"),
        2,
        "the retransmitted 486 is ACKed again"
    );
    assert!(p.a.is_idle() && p.b.is_idle());
}

#[test]
fn non_2xx_never_acked_ends_with_timer_h() {
    let mut p = Pair::new();
    p.policy_b = Some(Box::new(|ua, now, ev| {
        if let UaEvent::Incoming { call, .. } = ev {
            ua.reject(now, *call, 603);
        }
    }));
    p.fate = Box::new(|side, line, _| {
        if side == Side::A && line.starts_with("ACK") {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_until_idle(Duration::from_secs(120));
    // G: 0, .5, 1.5, 3.5, 7.5, then every T2=4s until H at 32 s.
    let times: Vec<f64> = p
        .sent
        .iter()
        .filter(|s| s.first_line.starts_with("SIP/2.0 603"))
        .map(|s| s.at.as_secs_f64() - 0.01)
        .collect();
    assert_eq!(times.len(), 11, "{times:?}");
    assert!(
        (times[4] - 7.5).abs() < 1e-6 && (times[5] - 11.5).abs() < 1e-6,
        "{times:?}"
    );
    assert!(p.b.is_idle());
}

#[test]
fn lost_ack_of_2xx_is_recovered_by_2xx_retransmission() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    p.fate = Box::new(|side, line, n| {
        if side == Side::A && line.starts_with("ACK") && n == 0 {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.count(Side::B, "SIP/2.0 200"), 2);
    assert_eq!(p.count(Side::A, "ACK"), 2);
    assert!(p
        .events_b
        .iter()
        .any(|(_, e)| matches!(e, UaEvent::Confirmed { .. })));
    assert!(ended(&p.events_b).is_empty());
}

#[test]
fn never_acked_2xx_ends_in_bye_after_64_t1() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    p.fate = Box::new(|side, line, _| {
        if side == Side::A && line.starts_with("ACK") {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_until_idle(Duration::from_secs(120));
    let (at, reason) = p
        .events_b
        .iter()
        .find_map(|(at, e)| match e {
            UaEvent::Ended { reason, .. } => Some((*at, reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason, EndReason::NoAck);
    assert_eq!(at, T1 * 64 + LATENCY);
    assert_eq!(p.count(Side::B, "BYE"), 1);
    assert_eq!(ended(&p.events_a), vec![EndReason::RemoteBye]);
    assert!(p.a.is_idle() && p.b.is_idle(), "no state left behind");
}

#[test]
fn cancel_of_a_ringing_call_gets_487() {
    let mut p = Pair::new();
    p.policy_b = Some(ring_only());
    let call = start_call(&mut p);
    p.run_for(Duration::from_secs(2));
    let now = p.now;
    p.a.hangup(now, call);
    p.run_until_idle(Duration::from_secs(60));
    assert_eq!(ended(&p.events_a), vec![EndReason::Cancelled]);
    assert_eq!(ended(&p.events_b), vec![EndReason::CancelledByPeer]);
    assert_eq!(p.count(Side::A, "CANCEL"), 1);
    assert_eq!(p.count(Side::B, "SIP/2.0 487"), 1);
    assert!(p.a.is_idle() && p.b.is_idle());
}

#[test]
fn cancel_waits_for_a_provisional_response() {
    let mut p = Pair::new();
    p.policy_b = Some(ring_only());
    let call = start_call(&mut p);
    let now = p.now;
    p.a.hangup(now, call);
    p.drain();
    assert_eq!(
        p.count(Side::A, "CANCEL"),
        0,
        "no CANCEL before any provisional"
    );
    p.run_until_idle(Duration::from_secs(60));
    assert_eq!(p.count(Side::A, "CANCEL"), 1);
    assert_eq!(ended(&p.events_a), vec![EndReason::Cancelled]);
}

#[test]
fn duplicated_datagrams_change_nothing() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    p.fate = Box::new(|_, _, _| Fate::Duplicate(LATENCY, LATENCY * 3));
    let call = start_call(&mut p);
    p.run_for(Duration::from_secs(2));
    assert_eq!(incoming_count(&p.events_b), 1);
    let answered = p
        .events_a
        .iter()
        .filter(|(_, e)| matches!(e, UaEvent::Answered { .. }))
        .count();
    assert_eq!(answered, 1);
    let now = p.now;
    p.a.hangup(now, call);
    p.run_until_idle(Duration::from_secs(120));
    assert_eq!(ended(&p.events_a), vec![EndReason::LocalBye]);
    assert_eq!(ended(&p.events_b), vec![EndReason::RemoteBye]);
    assert!(p.a.is_idle() && p.b.is_idle());
}

#[test]
fn provisional_overtaken_by_2xx_is_ignored() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    p.fate = Box::new(|side, line, _| {
        if side == Side::B && line.starts_with("SIP/2.0 180") {
            Fate::Deliver(Duration::from_millis(200))
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    start_call(&mut p);
    p.run_for(Duration::from_secs(2));
    let kinds: Vec<_> = p
        .events_a
        .iter()
        .map(|(_, e)| match e {
            UaEvent::Progress { .. } => "progress",
            UaEvent::Answered { .. } => "answered",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        vec!["answered"],
        "a late 180 must not follow the answer"
    );
}

#[test]
fn remote_bye_ends_the_call() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    start_call(&mut p);
    p.run_for(Duration::from_secs(1));
    let b_call = p
        .events_b
        .iter()
        .find_map(|(_, e)| match e {
            UaEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    let now = p.now;
    p.b.hangup(now, b_call);
    p.run_until_idle(Duration::from_secs(120));
    assert_eq!(ended(&p.events_a), vec![EndReason::RemoteBye]);
    assert_eq!(ended(&p.events_b), vec![EndReason::LocalBye]);
}

#[test]
fn lost_bye_is_retransmitted_by_timer_e() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    p.fate = Box::new(|side, line, n| {
        if side == Side::A && line.starts_with("BYE") && n < 3 {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    let call = start_call(&mut p);
    p.run_for(Duration::from_secs(1));
    let t0 = p.elapsed();
    let now = p.now;
    p.a.hangup(now, call);
    p.run_until_idle(Duration::from_secs(120));
    let byes: Vec<_> = p
        .sent
        .iter()
        .filter(|s| s.first_line.starts_with("BYE"))
        .map(|s| s.at - t0)
        .collect();
    assert_eq!(byes, vec![Duration::ZERO, T1, T1 * 3, T1 * 7]);
    assert_eq!(ended(&p.events_b), vec![EndReason::RemoteBye]);
    assert!(p.a.is_idle() && p.b.is_idle());
}

#[test]
fn thousand_calls_in_virtual_time() {
    let mut p = Pair::new();
    p.policy_b = Some(answer_immediately());
    let mut n = 0u32;
    p.fate = Box::new(move |_, _, _| {
        n = n.wrapping_add(1);
        // Every 7th datagram lost: retransmissions must absorb it.
        if n % 7 == 0 {
            Fate::Drop
        } else {
            Fate::Deliver(LATENCY)
        }
    });
    let calls: Vec<_> = (0..1000).map(|_| start_call(&mut p)).collect();
    p.run_for(Duration::from_secs(10));
    let now = p.now;
    for c in calls {
        p.a.hangup(now, c);
    }
    p.run_until_idle(Duration::from_secs(300));
    let a_ends = ended(&p.events_a);
    assert_eq!(a_ends.len(), 1000);
    assert!(
        a_ends.iter().all(|r| *r == EndReason::LocalBye),
        "{:?}",
        a_ends.iter().find(|r| **r != EndReason::LocalBye)
    );
    assert!(p.a.is_idle() && p.b.is_idle());
}
