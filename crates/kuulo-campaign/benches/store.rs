//! Cost of the store's hot path: one answer written (its own transaction,
//! as during a live call), and a whole completed call.
//!
//! Run with `cargo bench -p kuulo-campaign --bench store`; numbers go in
//! docs/benchmarks.md.

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kuulo_campaign::{Disposition, NewCampaign, Store};
use kuulo_ivr::AnswerValue;

fn store_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(dir.path().join("bench.sqlite")).expect("open store");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let campaign = store
        .create_campaign(&NewCampaign {
            script_id: "digital-services",
            title: "bench",
            created: now,
            retention_until: None,
        })
        .expect("campaign");
    let call = store
        .record_call_start(campaign, "+358401234567", now)
        .expect("call");

    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    group.bench_function("store_answer", |b| {
        b.iter(|| {
            // Distinct questions, so each write inserts rather than updates.
            n += 1;
            store
                .store_answer(&call, &format!("q{n}"), &AnswerValue::Scale(4), now)
                .expect("store answer");
        })
    });
    group.bench_function("store_answer_replace", |b| {
        b.iter(|| {
            store
                .store_answer(&call, "rating", &AnswerValue::Scale(3), now)
                .expect("store answer");
        })
    });

    let answers = [
        ("consent", AnswerValue::Yes),
        ("used_digital", AnswerValue::No),
        ("why_not", AnswerValue::Choice("hard_to_use".into())),
        ("channel", AnswerValue::Choice("web".into())),
        ("pandemic", AnswerValue::Scale(4)),
        ("wish", AnswerValue::Recording { duration_ms: 8_000 }),
    ];
    let mut number = 358_400_000_000u64;
    group.bench_function("completed_call", |b| {
        b.iter(|| {
            number += 1;
            let call = store
                .record_call_start(campaign, &format!("+{number}"), now)
                .expect("call");
            for (q, v) in &answers {
                store.store_answer(&call, q, v, now).expect("answer");
            }
            store
                .finish_call(&call, Disposition::Completed, Some(200), Some("fi"), now)
                .expect("finish");
        })
    });
    group.finish();
}

criterion_group!(benches, store_benches);
criterion_main!(benches);
