//! The steady-state media path allocates nothing: sending prompt frames,
//! receiving and playing out, DTMF both ways, RTCP, recording.
//!
//! A counting global allocator counts allocations made on this test's
//! thread while counting is switched on. libopus allocates with C's malloc,
//! which this counter cannot see; it does so only when an encoder or
//! decoder is created (at session setup), and encodes and decodes on the
//! stack.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kuulo_media::prompt::EncodedPrompt;
use kuulo_media::recording::RecordingConfig;
use kuulo_media::sdp::{AudioCodec, Direction, Negotiated};
use kuulo_media::session::{DtmfSendMode, MediaSession, SessionConfig, SessionEvent};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with` because the allocator may run while thread locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn config(codec: AudioCodec, remote: &str, seed: u64, ptime: Option<u32>) -> SessionConfig {
    let (payload_type, telephone_event) = match codec {
        AudioCodec::Opus => (111, 110),
        AudioCodec::Pcma => (8, 101),
        AudioCodec::Pcmu => (0, 101),
    };
    let n = Negotiated {
        codec,
        payload_type,
        telephone_event: Some(telephone_event),
        remote: remote.parse().unwrap(),
        direction: Direction::SendRecv,
        remote_ptime: ptime,
        remote_maxptime: None,
    };
    let mut c = SessionConfig::new(&n, seed);
    c.dtmf_send = DtmfSendMode::Both;
    c.rtcp_mux = true;
    c
}

/// Moves every queued datagram of `from` into `to` at once.
fn deliver(now: Instant, from: &mut MediaSession, from_addr: SocketAddr, to: &mut MediaSession) {
    while let Some(t) = from.poll_transmit() {
        to.handle_receive(now, from_addr, t.contents);
    }
}

#[test]
fn steady_state_does_not_allocate() {
    steady_state(AudioCodec::Pcmu, None);
}

#[test]
fn steady_state_does_not_allocate_with_opus() {
    steady_state(AudioCodec::Opus, None);
}

/// Both sides ask for 30 ms: packets are cut from 20 ms frames on the way
/// out and decoded through the sample queue on the way in.
#[test]
fn steady_state_does_not_allocate_at_30_ms() {
    steady_state(AudioCodec::Pcma, Some(30));
}

fn steady_state(codec: AudioCodec, ptime: Option<u32>) {
    let a_addr: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    let b_addr: SocketAddr = "10.0.0.2:5000".parse().unwrap();
    let t0 = Instant::now();
    let mut a = MediaSession::new(t0, config(codec, "10.0.0.2:5000", 1, ptime)).unwrap();
    let mut b = MediaSession::new(t0, config(codec, "10.0.0.1:4000", 2, ptime)).unwrap();
    let samples: Vec<i16> = (0..8000)
        .map(|i| (6000.0 * (i as f32 * 0.3).sin()) as i16)
        .collect();
    let prompt = Arc::new(EncodedPrompt::from_samples(&samples, codec).unwrap());
    a.play(Arc::clone(&prompt)).unwrap();
    b.start_recording(RecordingConfig {
        max_length: Duration::from_secs(120),
        no_speech_timeout: Duration::from_secs(120),
        end_silence: Duration::from_secs(120),
        ..Default::default()
    });

    let mut digits = 0u32;
    let mut run = |until: Instant, a: &mut MediaSession, b: &mut MediaSession| {
        while let Some(now) = a.poll_timeout().min(b.poll_timeout()) {
            if now > until {
                break;
            }
            a.handle_timeout(now);
            b.handle_timeout(now);
            deliver(now, a, a_addr, b);
            deliver(now, b, b_addr, a);
            while let Some(e) = a.poll_event() {
                if e == SessionEvent::PlaybackFinished {
                    a.play(Arc::clone(&prompt)).unwrap();
                }
            }
            while let Some(e) = b.poll_event() {
                if matches!(e, SessionEvent::Dtmf { .. }) {
                    digits += 1;
                }
            }
            // A key every second.
            if (now - t0).as_millis() % 1000 == 0 {
                a.send_dtmf('5').unwrap();
            }
        }
    };

    // Warm up: latching, the jitter buffer filling, first RTCP.
    run(t0 + Duration::from_secs(3), &mut a, &mut b);
    // The counter itself works.
    COUNTING.with(|c| c.set(true));
    drop(std::hint::black_box(Box::new(7u64)));
    assert_eq!(COUNT.with(Cell::get), 1);
    COUNT.with(|c| c.set(0));
    run(t0 + Duration::from_secs(15), &mut a, &mut b);
    COUNTING.with(|c| c.set(false));
    let allocations = COUNT.with(Cell::get);

    let (sa, sb) = (a.stats(), b.stats());
    // 15 s of audio packets at the packet time, less a little.
    let per_packet_ms = u64::from(ptime.unwrap_or(20));
    assert!(sa.packets_sent > 14_000 / per_packet_ms, "{sa:?}");
    assert!(sa.rtcp_sent >= 2 && sb.rtcp_sent >= 2);
    assert!(digits >= 14, "{digits} digits");
    assert!(b.is_recording());
    assert_eq!((sa.codec_errors, sb.codec_errors), (0, 0));
    assert_eq!(
        allocations, 0,
        "allocations in the steady state ({codec:?})"
    );
}
