//! Contact lists: CSV import, number normalising, merging duplicates.
//!
//! # The CSV format
//!
//! The first line names the columns; the separator (`,`, `;` or tab) is
//! taken from it, since Finnish spreadsheets export with `;`. Names are
//! matched ignoring case, spaces, `_`, `-`, `.` and `/`; other columns are
//! ignored.
//!
//! | column | names accepted | values |
//! | --- | --- | --- |
//! | phone (required) | `phone`, `phone_number`, `number`, `tel`, `mobile`, `msisdn`, `puhelin`, `puhelinnumero`, `numero`, `puh`, `matkapuhelin`, `gsm` | see [`normalise_number`](crate::normalise_number()) |
//! | birth date | `birth_date`, `date_of_birth`, `dob`, `born`, `syntymäaika`, `syntymäpäivä` | `1980-02-13`, `13.2.1980`, `19800213` |
//! | age | `age`, `ikä`, `ika` | whole years, 0–130 |
//! | person/business | `type`, `kind`, `person_or_business`, `customer_type`, `tyyppi`, `asiakastyyppi`, `henkilö/yritys` | `person`, `private`, `henkilö`, `yksityinen`, `p`, `h`; `business`, `company`, `yritys`, `firma`, `b`, `y`; empty = unknown |
//! | language | `language`, `lang`, `kieli`, `asiointikieli`, `äidinkieli` | a 2–3 letter code or `suomi`, `ruotsi`, `svenska`, `englanti`, `finnish`, `swedish`, `english` |
//! | marketing ban | `marketing_ban`, `no_marketing`, `ban`, `do_not_call`, `markkinointikielto`, `suoramarkkinointikielto`, `kielto` | `1`, `yes`, `true`, `x`, `kyllä`, `k`; `0`, `no`, `false`, `ei`, `e`, `-`, empty |
//!
//! Every data row ends up in exactly one place: a new contact, merged into
//! an earlier one with the same number, or a reject with its line number
//! and reason ([`ContactList::write_rejects`]).

use std::collections::HashMap;
use std::io::{Read, Write};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::number::{normalise_number, NumberError};

/// Whether a number belongs to a person or a business.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// Not stated: treated as a person.
    #[default]
    Unknown,
    /// A resident.
    Person,
    /// A business line.
    Business,
}

/// One resident to call, as imported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// E.164 number. Not in the stored attributes: the queue's own column
    /// holds it, and a purge that clears that column must leave no copy.
    #[serde(skip)]
    pub e164: String,
    /// Birth date, if the list has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    /// Age in years when the list was made, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u8>,
    /// Person or business.
    #[serde(default)]
    pub kind: ContactKind,
    /// Language code such as `fi`, `sv`, `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Marketing ban flag of the row.
    #[serde(default)]
    pub marketing_ban: bool,
    /// Line of the first row with this number.
    #[serde(default)]
    pub line: u64,
}

impl Contact {
    /// The attributes the store keeps with the queue entry, as JSON.
    pub fn attributes_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Reads a contact back from its stored attributes.
    pub fn from_attributes(e164: &str, json: &str) -> Contact {
        // Attributes written by another tool may lack fields; the defaults
        // are the safe ones (age unknown is excluded by default).
        let mut c: Contact = serde_json::from_str(json).unwrap_or_default();
        c.e164 = e164.to_owned();
        c
    }

    /// Merges a duplicate row into this contact, keeping the most
    /// restrictive of both: any ban, business over person, the younger age.
    fn merge(&mut self, other: Contact) {
        self.marketing_ban |= other.marketing_ban;
        self.kind = match (self.kind, other.kind) {
            (ContactKind::Business, _) | (_, ContactKind::Business) => ContactKind::Business,
            (ContactKind::Person, _) | (_, ContactKind::Person) => ContactKind::Person,
            _ => ContactKind::Unknown,
        };
        self.birth_date = self.birth_date.max(other.birth_date);
        self.age = match (self.age, other.age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.language.is_none() {
            self.language = other.language;
        }
    }
}

/// Why a row was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectReason {
    /// The phone number.
    #[error("phone number: {0}")]
    Number(#[from] NumberError),
    /// The birth date cell.
    #[error("birth date {0:?} is not a date (write 1980-02-13 or 13.2.1980)")]
    BirthDate(String),
    /// The age cell.
    #[error("age {0:?} is not a whole number of years from 0 to 130")]
    Age(String),
    /// The person/business cell.
    #[error("person/business {0:?} is neither (write person or business)")]
    Kind(String),
    /// The language cell.
    #[error("language {0:?} is not a language code (write fi, sv or en)")]
    Language(String),
    /// The marketing ban cell.
    #[error("marketing ban {0:?} is neither yes nor no (write 1 or 0)")]
    MarketingBan(String),
    /// The row is not UTF-8 text.
    #[error("not UTF-8 text; save the file as UTF-8 CSV")]
    NotUtf8,
    /// The CSV reader could not read the row (an unclosed quote, ...).
    #[error("unreadable CSV row: {0}")]
    Csv(String),
}

/// A rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line in the file.
    pub line: u64,
    /// Why.
    pub reason: RejectReason,
    /// The row's cells, for the rejects file.
    pub fields: Vec<String>,
}

/// Why a contact file could not be read at all.
#[derive(Debug, Error)]
pub enum ImportError {
    /// Reading failed.
    #[error("cannot read the contact file: {0}; check it exists and is readable")]
    Io(#[from] std::io::Error),
    /// The file has no header line.
    #[error(
        "the contact file is empty; its first line must name the columns (phone, birth_date, ...)"
    )]
    Empty,
    /// No column holds phone numbers.
    #[error("no phone number column among {0:?}; name it phone or puhelin, and save the file as UTF-8 CSV")]
    NoPhoneColumn(Vec<String>),
    /// Two columns mean the same thing.
    #[error("columns {0:?} and {1:?} mean the same; keep one")]
    DuplicateColumn(String, String),
    /// The CSV writer or reader failed outside a data row.
    #[error("CSV error: {0}; check the file is CSV text")]
    Csv(#[from] csv::Error),
}

/// The result of parsing a contact file.
#[derive(Debug, Clone, Default)]
pub struct ContactList {
    /// Distinct contacts, in file order.
    pub contacts: Vec<Contact>,
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Rows merged into an earlier one with the same number.
    pub merged: u64,
    /// Rows rejected.
    pub rejects: Vec<Reject>,
}

impl ContactList {
    /// Rows rejected for their phone number: the report's "invalid
    /// number" exclusions, which never reach the store (it keeps only
    /// valid E.164 numbers).
    pub fn invalid_numbers(&self) -> u64 {
        self.rejects
            .iter()
            .filter(|r| matches!(r.reason, RejectReason::Number(_)))
            .count() as u64
    }

    /// Writes the rejects file: `line,reason` and the row's own cells.
    pub fn write_rejects(&self, out: impl Write) -> Result<(), ImportError> {
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
        w.write_record(["line", "reason", "row"])?;
        for r in &self.rejects {
            let mut rec = vec![r.line.to_string(), r.reason.to_string()];
            rec.extend(r.fields.iter().cloned());
            w.write_record(&rec)?;
        }
        w.flush()?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Phone,
    BirthDate,
    Age,
    Kind,
    Language,
    Ban,
}

const HEADERS: &[(Column, &[&str])] = &[
    (
        Column::Phone,
        &[
            "phone",
            "phonenumber",
            "number",
            "tel",
            "telephone",
            "mobile",
            "msisdn",
            "puhelin",
            "puhelinnumero",
            "numero",
            "puh",
            "puhnro",
            "matkapuhelin",
            "gsm",
        ],
    ),
    (
        Column::BirthDate,
        &[
            "birthdate",
            "dateofbirth",
            "dob",
            "born",
            "syntymäaika",
            "syntymaaika",
            "syntymäpäivä",
            "syntymapaiva",
        ],
    ),
    (Column::Age, &["age", "ikä", "ika"]),
    (
        Column::Kind,
        &[
            "type",
            "kind",
            "personorbusiness",
            "customertype",
            "tyyppi",
            "asiakastyyppi",
            "henkilöyritys",
            "henkiloyritys",
        ],
    ),
    (
        Column::Language,
        &[
            "language",
            "lang",
            "kieli",
            "asiointikieli",
            "äidinkieli",
            "aidinkieli",
        ],
    ),
    (
        Column::Ban,
        &[
            "marketingban",
            "nomarketing",
            "ban",
            "donotcall",
            "markkinointikielto",
            "suoramarkkinointikielto",
            "kielto",
        ],
    ),
];

fn column_of(header: &str) -> Option<Column> {
    let key: String = header
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.' | '/'))
        .flat_map(char::to_lowercase)
        .collect();
    HEADERS
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
        .map(|(c, _)| *c)
}

/// The separator most used on the header line.
fn sniff_delimiter(data: &[u8]) -> u8 {
    let first = data.split(|&b| b == b'\n').next().unwrap_or(data);
    let count = |d: u8| first.iter().filter(|&&b| b == d).count();
    [b';', b'\t'].into_iter().fold(
        b',',
        |best, d| if count(d) > count(best) { d } else { best },
    )
}

/// Parses a contact file (see the module docs for its columns).
pub fn parse_contacts(mut reader: impl Read) -> Result<ContactList, ImportError> {
    let mut data = Vec::new();
    reader.read_to_end(&mut data)?;
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(&data))
        .flexible(true)
        .has_headers(false)
        .from_reader(data.as_slice());
    let mut records = csv.byte_records();
    let header = match records.next() {
        None => return Err(ImportError::Empty),
        Some(h) => h?,
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_owned())
        .collect();
    let mut columns: Vec<(Column, usize)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(col) = column_of(name) {
            if let Some(&(_, j)) = columns.iter().find(|(c, _)| *c == col) {
                return Err(ImportError::DuplicateColumn(names[j].clone(), name.clone()));
            }
            columns.push((col, i));
        }
    }
    if !columns.iter().any(|(c, _)| *c == Column::Phone) {
        return Err(ImportError::NoPhoneColumn(names));
    }
    let mut list = ContactList::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in records {
        list.rows += 1;
        let (line, parsed) = match record {
            Ok(rec) => {
                let line = rec.position().map_or(0, |p| p.line());
                let fields: Vec<String> = rec
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                let parsed = match rec
                    .iter()
                    .map(std::str::from_utf8)
                    .collect::<Result<Vec<_>, _>>()
                {
                    Ok(cells) => parse_row(&columns, &cells, line),
                    Err(_) => Err(RejectReason::NotUtf8),
                };
                (line, parsed.map_err(|r| (r, fields)))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err((RejectReason::Csv(e.to_string()), Vec::new())))
            }
        };
        match parsed {
            Ok(contact) => match seen.get(&contact.e164) {
                Some(&i) => {
                    list.contacts[i].merge(contact);
                    list.merged += 1;
                }
                None => {
                    seen.insert(contact.e164.clone(), list.contacts.len());
                    list.contacts.push(contact);
                }
            },
            Err((reason, fields)) => list.rejects.push(Reject {
                line,
                reason,
                fields,
            }),
        }
    }
    Ok(list)
}

fn parse_row(
    columns: &[(Column, usize)],
    cells: &[&str],
    line: u64,
) -> Result<Contact, RejectReason> {
    let mut contact = Contact {
        line,
        ..Contact::default()
    };
    for &(col, i) in columns {
        let cell = cells.get(i).map_or("", |c| c.trim());
        match col {
            Column::Phone => contact.e164 = normalise_number(cell)?,
            Column::BirthDate if !cell.is_empty() => {
                contact.birth_date = Some(parse_date(cell)?);
            }
            Column::Age if !cell.is_empty() => {
                contact.age = Some(
                    cell.parse::<u8>()
                        .ok()
                        .filter(|a| *a <= 130)
                        .ok_or_else(|| RejectReason::Age(cell.into()))?,
                );
            }
            Column::Kind => contact.kind = parse_kind(cell)?,
            Column::Language => contact.language = parse_language(cell)?,
            Column::Ban => contact.marketing_ban = parse_flag(cell)?,
            Column::BirthDate | Column::Age => {}
        }
    }
    Ok(contact)
}

fn parse_date(cell: &str) -> Result<NaiveDate, RejectReason> {
    ["%Y-%m-%d", "%d.%m.%Y", "%Y%m%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(cell, f).ok())
        .ok_or_else(|| RejectReason::BirthDate(cell.into()))
}

fn parse_kind(cell: &str) -> Result<ContactKind, RejectReason> {
    let v = cell.to_lowercase();
    Ok(match v.as_str() {
        "" => ContactKind::Unknown,
        "person" | "private" | "individual" | "resident" | "henkilö" | "henkilo" | "yksityinen"
        | "yksityishenkilö" | "p" | "h" => ContactKind::Person,
        "business" | "company" | "organisation" | "organization" | "corporate" | "yritys"
        | "firma" | "b" | "y" => ContactKind::Business,
        _ => return Err(RejectReason::Kind(cell.into())),
    })
}

fn parse_language(cell: &str) -> Result<Option<String>, RejectReason> {
    let v = cell.to_lowercase();
    let code = match v.as_str() {
        "" => return Ok(None),
        "suomi" | "finnish" | "fin" => "fi",
        "ruotsi" | "svenska" | "swedish" | "swe" => "sv",
        "englanti" | "english" | "eng" => "en",
        v if (2..=3).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_lowercase()) => v,
        _ => return Err(RejectReason::Language(cell.into())),
    };
    Ok(Some(code.to_owned()))
}

fn parse_flag(cell: &str) -> Result<bool, RejectReason> {
    match cell.to_lowercase().as_str() {
        "" | "0" | "no" | "n" | "false" | "ei" | "e" | "-" => Ok(false),
        "1" | "yes" | "y" | "true" | "x" | "kyllä" | "kylla" | "k" => Ok(true),
        _ => Err(RejectReason::MarketingBan(cell.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finnish_semicolon_export() {
        let text = "\u{feff}Puhelin;Syntymäaika;Tyyppi;Kieli;Markkinointikielto;Nimi\n\
                    040 123 4567;13.2.1980;henkilö;suomi;;Matti\n\
                    (09) 42550326;1975-01-01;yritys;sv;0;Oy\n";
        let list = parse_contacts(text.as_bytes()).unwrap();
        assert_eq!(list.rows, 2);
        assert!(list.rejects.is_empty(), "{:?}", list.rejects);
        let c = &list.contacts[0];
        assert_eq!(c.e164, "+358401234567");
        assert_eq!(c.birth_date, NaiveDate::from_ymd_opt(1980, 2, 13));
        assert_eq!(c.kind, ContactKind::Person);
        assert_eq!(c.language.as_deref(), Some("fi"));
        assert_eq!(c.line, 2);
        assert_eq!(list.contacts[1].kind, ContactKind::Business);
    }

    #[test]
    fn duplicates_merge_to_the_most_restrictive() {
        let text = "phone,age,type,language,marketing_ban\n\
                    0401234567,40,person,fi,0\n\
                    +358 40 123 4567,17,,sv,1\n\
                    00358401234567,,business,,\n";
        let list = parse_contacts(text.as_bytes()).unwrap();
        assert_eq!((list.rows, list.merged, list.contacts.len()), (3, 2, 1));
        let c = &list.contacts[0];
        assert_eq!(c.age, Some(17));
        assert!(c.marketing_ban);
        assert_eq!(c.kind, ContactKind::Business);
        assert_eq!(c.language.as_deref(), Some("fi"));
        let json = c.attributes_json();
        assert!(!json.contains("401234567"), "{json}");
        let back = Contact::from_attributes(&c.e164, &json);
        assert_eq!(&back, c);
    }

    #[test]
    fn bad_rows_are_rejected_with_line_and_reason() {
        let table: &[(&str, &str)] = &[
            ("040 123", "too short"),
            ("abc", "letters"),
            ("0401234567,notadate", "birth date"),
            ("0401234567,,200", "age"),
            ("0401234567,,,alien", "person/business"),
            ("0401234567,,,,klingon1", "language"),
            ("0401234567,,,,,maybe", "marketing ban"),
            ("401234567", "leading 0"),
            ("", "no phone number"),
        ];
        let mut text = String::from("phone,dob,age,type,lang,ban\n");
        for (row, _) in table {
            text.push_str(row);
            text.push('\n');
        }
        text.push_str("\"0401234567,unclosed\n");
        let list = parse_contacts(text.as_bytes()).unwrap();
        // Three bad numbers, and the unclosed quote swallows a comma into one.
        assert_eq!(list.invalid_numbers(), 4);
        let total = list.contacts.len() as u64 + list.merged + list.rejects.len() as u64;
        assert_eq!(total, list.rows);
        for (i, (row, want)) in table.iter().enumerate() {
            // An empty line is no row: the CSV reader skips it.
            if row.is_empty() {
                continue;
            }
            let r = &list.rejects[i];
            assert_eq!(r.line, i as u64 + 2, "{row}");
            assert!(r.reason.to_string().contains(want), "{row}: {}", r.reason);
        }
        let mut out = Vec::new();
        list.write_rejects(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("line,reason,row\n2,"), "{out}");
    }

    #[test]
    fn not_utf8_and_file_errors() {
        let list = parse_contacts(&b"phone\n040\xff1234567\n"[..]).unwrap();
        assert_eq!(list.rejects[0].reason, RejectReason::NotUtf8);
        assert!(matches!(parse_contacts(&b""[..]), Err(ImportError::Empty)));
        assert!(matches!(
            parse_contacts(&b"name,age\nx,1\n"[..]),
            Err(ImportError::NoPhoneColumn(_))
        ));
        assert!(matches!(
            parse_contacts(&b"phone,puhelin\n"[..]),
            Err(ImportError::DuplicateColumn(..))
        ));
    }
}
