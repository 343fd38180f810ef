//! One dialer step: `poll_dial` plus `on_outcome` for one call, with
//! 10,000 contacts queued (a Riihimäki-sized round).

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kuulo_campaign::{
    CallingHours, Contact, Dialer, DialerConfig, Disposition, Exclusions, RetryPolicy,
};

fn dialer(contacts: usize) -> Dialer {
    let config = DialerConfig {
        calls_per_second: 1_000_000.0,
        max_concurrent: 1,
        hours: CallingHours::always(chrono_tz::Europe::Helsinki),
        // Every call busy and retried at once, so the queue never drains.
        retry: RetryPolicy {
            max_attempts: u32::MAX,
            busy: Some(Duration::ZERO),
            ..RetryPolicy::default()
        },
        ..DialerConfig::default()
    };
    let mut d = Dialer::new(config, Exclusions::default());
    for i in 0..contacts {
        d.add_contact(
            Contact {
                e164: format!("+35840{i:07}"),
                age: Some(30),
                ..Contact::default()
            },
            0,
            None,
        );
    }
    d
}

fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("dialer");
    group.throughput(Throughput::Elements(1));
    let mut d = dialer(10_000);
    let mut now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    group.bench_function("poll_dial+on_outcome", |b| {
        b.iter(|| {
            now += Duration::from_millis(1);
            let order = d.poll_dial(now).expect("a contact is due");
            d.on_outcome(now, &order.e164, Disposition::Busy, Some(486))
                .expect("the call is under way")
        })
    });
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
