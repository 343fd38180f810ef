//! Throughput of the sans-IO SIP cores, with no sockets: whole calls
//! (INVITE/100/180/200/ACK, BYE/200: three transactions and a dialog) between
//! two `UserAgent`s in memory, and single OPTIONS transactions through an
//! `Endpoint`. The figures bound what the tokio driver can reach.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kuulo_sip::message::Uri;
use kuulo_sip::transport::Peer;
use kuulo_sip::ua::{UaConfig, UaEvent, UserAgent};
use kuulo_sip::{Endpoint, EndpointConfig};
use std::net::SocketAddr;
use std::time::Instant;

const SDP: &[u8] = b"v=0\r\no=kuulo 1 1 IN IP4 127.0.0.1\r\ns=kuulo\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

struct Pair {
    a: UserAgent,
    b: UserAgent,
    addr_a: SocketAddr,
    addr_b: SocketAddr,
}

impl Pair {
    fn new() -> Pair {
        let addr_a: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let addr_b: SocketAddr = "127.0.0.1:5080".parse().unwrap();
        Pair {
            a: UserAgent::new(UaConfig::new(addr_a)),
            b: UserAgent::new(UaConfig::new(addr_b)),
            addr_a,
            addr_b,
        }
    }

    /// Delivers everything in flight, answering calls on B and hanging up
    /// answered calls on A, until both sides are quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                moved = true;
                self.b
                    .handle_datagram(now, Peer::udp(self.addr_a), t.payload);
            }
            while let Some(ev) = self.b.poll_event() {
                if let UaEvent::Incoming { call, .. } = ev {
                    self.b.ring(now, call, None);
                    self.b.answer(now, call, Bytes::from_static(SDP));
                }
            }
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                self.a
                    .handle_datagram(now, Peer::udp(self.addr_b), t.payload);
            }
            while let Some(ev) = self.a.poll_event() {
                if let UaEvent::Answered { call, .. } = ev {
                    self.a.hangup(now, call);
                }
            }
            if !moved {
                break;
            }
        }
    }
}

fn whole_calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("sans_io_call");
    let batch = 100u64;
    group.throughput(Throughput::Elements(batch));
    group.bench_function("100_calls_invite_to_bye", |bench| {
        bench.iter_batched(
            Pair::new,
            |mut p| {
                let now = Instant::now();
                let target = Uri::parse("sip:survey@127.0.0.1:5080").unwrap();
                for _ in 0..batch {
                    let peer = Peer::udp(p.addr_b);
                    p.a.invite(now, target.clone(), peer, Bytes::from_static(SDP));
                }
                p.pump(now);
                assert_eq!(p.a.call_count(), 0);
                p
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn options_transactions(c: &mut Criterion) {
    let addr: SocketAddr = "127.0.0.1:5080".parse().unwrap();
    let peer = Peer::udp("127.0.0.1:5070".parse().unwrap());
    let mut group = c.benchmark_group("sans_io_transaction");
    group.throughput(Throughput::Elements(1));
    group.bench_function("options_server_transaction", |bench| {
        let mut ep = Endpoint::new(EndpointConfig::new(addr));
        let mut n = 0u64;
        bench.iter(|| {
            n += 1;
            let req = format!(
                "OPTIONS sip:survey@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:survey@127.0.0.1>\r\nCall-ID: c{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            );
            let now = Instant::now();
            ep.handle_datagram(now, peer, Bytes::from(req));
            while let Some(ev) = ep.poll_event() {
                if let kuulo_sip::transaction::TransactionEvent::Request { id, request, .. } = ev {
                    let resp = kuulo_sip::endpoint::response_to(&request, 200, None);
                    ep.send_response(now, id, &resp);
                }
            }
            while ep.poll_transmit().is_some() {}
            // Let Timer J retire old transactions so the table stays small.
            if n % 1024 == 0 {
                ep.handle_timeout(now + std::time::Duration::from_secs(64));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, whole_calls, options_transactions);
criterion_main!(benches);
