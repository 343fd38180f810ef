//! Contact lists come from spreadsheets and register extracts: arbitrary
//! bytes must give rejects or a typed error, never a panic, and every data
//! row must be accounted for (imported + merged + rejected = rows).
#![no_main]

use kuulo_campaign::contacts::parse_contacts;
use kuulo_campaign::normalise_number;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(e164) = normalise_number(text) {
            assert!(kuulo_campaign::check_e164(&e164).is_ok(), "{e164}");
        }
    }
    let Ok(list) = parse_contacts(data) else { return };
    let accounted = list.contacts.len() as u64 + list.merged + list.rejects.len() as u64;
    assert_eq!(accounted, list.rows);
    let mut out = Vec::new();
    let _ = list.write_rejects(&mut out);
});
