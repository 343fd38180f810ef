//! The HTML report opened in a real browser: Debian's chromium, headless,
//! renders the page `kuulo report --html` wrote, and what it rendered is
//! checked (the DOM it built, and a screenshot that is not blank).
//!
//! Chromium is a test dependency like sipp: `.ci/run` installs it with
//! `scripts/install-deps.sh`. Without it this test fails and says so,
//! rather than passing without having looked.

mod report_support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use report_support::{add_campaign, kuulo, HOSTILE, NUMBERS};

/// The browser; `KUULO_CHROMIUM` may name another binary.
fn browser() -> String {
    std::env::var("KUULO_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A cold start in a busy CI container takes seconds, not minutes.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

/// Window size of the screenshots: tall enough for the whole page.
const WINDOW: (u32, u32) = (900, 1800);

/// Runs headless chromium on `page` with `args`, its stdout into
/// `stdout`, killed after [`BROWSER_LIMIT`].
fn chromium(work: &Path, page: &Path, args: &[&str], stdout: &Path) {
    let profile = tempfile::tempdir_in(work).unwrap();
    let mut command = Command::new(browser());
    command
        // --no-sandbox: CI runs the tests as root, where the sandbox
        // refuses to start; the page is our own file.
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(stdout).unwrap())
        .stderr(Stdio::null());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{}` not found: the HTML report test needs Debian's chromium; \
             install it with `apt-get install chromium` (or `bash scripts/install-deps.sh chromium`; \
             .ci/run does this), or point KUULO_CHROMIUM at a chromium binary",
            browser()
        ),
        Err(e) => panic!("cannot start `{}`: {e}", browser()),
    };
    let deadline = Instant::now() + BROWSER_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?} failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "not a PNG: {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR", "PNG without IHDR first");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn screenshot(work: &Path, page: &Path, name: &str) -> Vec<u8> {
    let png: PathBuf = work.join(name);
    chromium(
        work,
        page,
        &[
            &format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            &format!("--screenshot={}", png.display()),
        ],
        &work.join(format!("{name}.log")),
    );
    std::fs::read(&png).unwrap_or_else(|e| panic!("chromium wrote no screenshot {name}: {e}"))
}

#[test]
fn chromium_renders_the_charts() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let db = work.join("results.sqlite");
    add_campaign(&db, "Oulu digital services");
    let html = work.join("report.html");
    let out = kuulo(&[
        "report".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The DOM the browser built: the parser kept every chart, and the
    // hostile answer stayed text (a <script> element would show here).
    let dom_file = work.join("dom.html");
    chromium(&work, &html, &["--dump-dom"], &dom_file);
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    assert!(dom.contains("<h1>Oulu digital services</h1>"), "{dom}");
    assert_eq!(dom.matches("<svg class=\"chart funnel\"").count(), 1);
    assert_eq!(dom.matches("<svg class=\"chart question\"").count(), 2);
    assert_eq!(dom.matches("<svg class=\"chart language\"").count(), 2);
    // Funnel 10 rows, answers 2 + 4, by language 4 + 4 segments.
    assert_eq!(dom.matches("<rect class=\"bar\"").count(), 24, "{dom}");
    assert!(dom.contains(">5 (55.6%)</text>"), "{dom}");
    assert!(!dom.contains(HOSTILE), "{dom}");
    assert!(!dom.contains("<script"), "{dom}");
    for number in NUMBERS {
        assert!(!dom.contains(&number[4..]), "{number} leaked");
    }

    // The pixels: a page of charts next to an empty page of the same size.
    let blank = work.join("blank.html");
    std::fs::write(
        &blank,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>blank</title></head>\
         <body></body></html>",
    )
    .unwrap();
    let report_png = screenshot(&work, &html, "report.png");
    let blank_png = screenshot(&work, &blank, "blank.png");
    assert_eq!(png_size(&report_png), WINDOW);
    assert_eq!(png_size(&blank_png), WINDOW);
    // Without a PNG decoder in the tree, compressed size stands in for
    // content: a blank page compresses to a few kB, text and coloured bars
    // take many times that (about 10x at this size).
    assert!(
        report_png.len() > 4 * blank_png.len(),
        "the report screenshot looks blank: {} bytes against {} for an empty page",
        report_png.len(),
        blank_png.len()
    );
}
