//! Whatever a contact file holds, the import answers with rejects or a
//! typed error, never a panic, and every row is accounted for. The same
//! check as the `contacts_csv` fuzz target, run here on every test.

use kuulo_campaign::contacts::parse_contacts;
use kuulo_campaign::{check_e164, normalise_number, ImportError};
use proptest::prelude::*;

fn accounted(data: &[u8]) -> Result<(), ImportError> {
    let list = parse_contacts(data)?;
    let n = list.contacts.len() as u64 + list.merged + list.rejects.len() as u64;
    assert_eq!(
        n,
        list.rows,
        "rows lost in {:?}",
        String::from_utf8_lossy(data)
    );
    let mut out = Vec::new();
    list.write_rejects(&mut out)?;
    Ok(())
}

#[test]
fn table_of_bad_files() {
    let table: &[(&[u8], &str)] = &[
        (b"", "empty"),
        (b"\n\n\n", "empty"),
        (b"name;city\nMatti;Oulu\n", "no phone"),
        (b"phone,tel\n", "mean the same"),
        (b"\xff\xfe\x00p\x00h\x00o\x00n\x00e\x00\n", "no phone"),
    ];
    for (data, want) in table {
        let err = parse_contacts(*data).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    let rows: &[&[u8]] = &[
        b"phone\n\"unclosed\n",
        b"phone\n040 123 4567,extra,cells\n",
        b"phone,age\n0401234567\n",
        b"phone\n\x00\x01\x02\n",
        b"phone\n+\n",
        b"phone\n00\n",
        b"phone\n0\n",
        b"phone\n+358\n",
        b"phone\n+3580\n",
        b"phone\n(((((((\n",
        b"phone\n\xe2\x80\xae0401234567\n",
        b"phone\n\xd9\xa0\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7\n",
        b"phone,dob\n0401234567,31.2.1990\n",
        b"phone,dob\n0401234567,99999-01-01\n",
        b"phone,age\n0401234567,-1\n",
        b"phone,age\n0401234567,1e3\n",
    ];
    for data in rows {
        accounted(data).unwrap();
        let list = parse_contacts(*data).unwrap();
        assert!(
            list.contacts.len() <= 1,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = accounted(&data);
    }

    #[test]
    fn arbitrary_rows_never_panic(body in "[0-9a-zA-Z +()\\-;,\"\n.äö\u{a0}]{0,200}") {
        let data = format!("puhelin;ikä;tyyppi;kieli;kielto\n{body}");
        let _ = accounted(data.as_bytes());
    }

    #[test]
    fn normalised_numbers_are_e164(raw in "[0-9 +()\\-]{0,24}") {
        if let Ok(e164) = normalise_number(&raw) {
            prop_assert!(check_e164(&e164).is_ok(), "{} -> {}", raw, e164);
        }
    }
}
