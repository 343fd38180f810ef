//! Fuzzes the SIP message layer: arbitrary bytes are parsed; whatever
//! parses is serialized and must parse again to the same wire form; the
//! same bytes are cut into frames by the TCP stream framer in chunks.
//!
//! The checks live in `kuulo_sip::message::fuzz_check` so that
//! crates/kuulo-sip/tests/fuzz_corpus.rs replays the corpus through exactly
//! the same code in CI. See docs/fuzzing.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kuulo_sip::message::fuzz_check(data);
});
