//! `kuulo report` run as an analyst runs it: the built binary on a real
//! results store, its terminal text, its files and its exit codes.

mod report_support;

use report_support::{add_campaign, kuulo, HOSTILE, NUMBERS};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn prints_the_report_and_writes_html_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");
    add_campaign(&db, "Oulu digital services");
    let (html, csv, json) = (
        dir.path().join("report.html"),
        dir.path().join("answers.csv"),
        dir.path().join("answers.json"),
    );
    let out = kuulo(&[
        "report".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
        "--csv".as_ref(),
        csv.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));

    // The terminal: funnel of 9 contacts, distributions, languages.
    for expected in [
        "Campaign 1: Oulu digital services (script digital-services)",
        "  contacts                          9  100.0%",
        "  excluded                          2   22.2%",
        "    minor                           1   11.1%",
        "    business                        1   11.1%",
        "  attempted                         7   77.8%",
        "  reached                           7   77.8%",
        "  consented                         5   55.6%",
        "  completed                         5   55.6%",
        "  declined                          1   11.1%",
        "  opted out                         1   11.1%",
        "Question used_digital (5 answered)",
        "  yes                               4   80.0%",
        "  in fi (3 answered): yes 66.7%, no 33.3%",
        "  in sv (1 answered): yes 100.0%",
        "  in unknown language (1 answered): yes 100.0%",
        "Question channel (5 answered)",
        "  phone                             2   40.0%",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }

    // The page: every chart, the numbers, and the hostile answer escaped.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg class=\"chart funnel\"").count(), 1);
    assert_eq!(page.matches("<svg class=\"chart question\"").count(), 2);
    assert_eq!(page.matches("<svg class=\"chart language\"").count(), 2);
    assert!(page.contains(">5 (55.6%)</text>"), "{page}");
    assert!(page.contains(">4 (80.0%)</text>"), "{page}");
    assert!(!page.contains(HOSTILE));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // The exports: one row per answer, pseudonymous.
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + 10, "{csv}");
    assert!(csv.starts_with("pseudonym,call_id,question,value,"));
    let json_text = std::fs::read_to_string(&json).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(parsed["answers"].as_array().unwrap().len(), 10);
    assert_eq!(parsed["report"]["funnel"]["completed"], 5);
    let used = &parsed["report"]["questions"][0];
    assert_eq!(used["question"], "used_digital");
    assert_eq!(used["by_language"][0]["language"], "fi");
    assert_eq!(used["by_language"][2]["language"], serde_json::Value::Null);

    for output in [&stdout, &page, &csv, &json_text] {
        for number in NUMBERS {
            assert!(!output.contains(&number[4..]), "{number} leaked");
        }
        assert!(!output.contains("+358"), "a number leaked");
    }
}

#[test]
fn reports_on_the_latest_campaign_unless_told_and_lists_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");
    add_campaign(&db, "Spring round");
    add_campaign(&db, "Autumn round");
    let out = kuulo(&["report".as_ref(), "--db".as_ref(), db.as_os_str()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("Campaign 2: Autumn round"), "{stdout}");
    assert!(stderr.contains("--campaign"), "{stderr}");
    assert!(stderr.contains("Spring round"), "{stderr}");

    let out = kuulo(&[
        "report".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--campaign".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("Campaign 1: Spring round"));
}

#[test]
fn troubles_exit_2_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("results.sqlite");

    // A missing store is not created by a report.
    let out = kuulo(&["report".as_ref(), "--db".as_ref(), db.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no results store at"));
    assert!(!db.exists());

    // An empty store.
    drop(kuulo_campaign::Store::open(&db).unwrap());
    let out = kuulo(&["report".as_ref(), "--db".as_ref(), db.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("holds no campaign yet"));

    // An unknown campaign.
    add_campaign(&db, "Only round");
    let out = kuulo(&[
        "report".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--campaign".as_ref(),
        "9".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no campaign 9"));

    // An unwritable target: a directory that does not exist.
    let html = dir.path().join("missing-dir/report.html");
    let out = kuulo(&[
        "report".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(stderr.contains("report.html"), "{stderr}");
}
