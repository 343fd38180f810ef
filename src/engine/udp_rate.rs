//! The machine's raw loopback UDP rate, which load runs quote their own
//! packet rate against: absolute packet rates move from machine to
//! machine, a share of what the kernel itself moves much less.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Datagrams of 172 bytes (a 20 ms G.711 RTP packet) one thread can send
/// and another receive over loopback per second.
pub fn raw_udp_rate(for_how_long: Duration) -> std::io::Result<f64> {
    let rx = UdpSocket::bind((LOOPBACK, 0))?;
    rx.set_read_timeout(Some(Duration::from_millis(200)))?;
    let to = rx.local_addr()?;
    let tx = UdpSocket::bind((LOOPBACK, 0))?;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let packet = [0x80u8; 172];
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    let _ = tx.send_to(&packet, to);
                }
            }
        })
    };
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut received = 0u64;
    while start.elapsed() < for_how_long {
        if rx.recv(&mut buf).is_ok() {
            received += 1;
        }
    }
    let rate = received as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    Ok(rate)
}
