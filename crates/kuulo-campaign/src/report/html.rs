//! The report as one self-contained HTML page: inline CSS and inline SVG
//! charts, no script and no external resource, so it opens offline, can be
//! mailed as one file, and prints as it shows.
//!
//! Every text that comes from a survey script or the store (titles,
//! question ids, answer values, languages) is escaped: a script author or a
//! spoken answer must not be able to put markup into an analyst's browser.

use std::fmt::{self, Display, Formatter, Write};

use super::{language_label, percent, AnswerShare, QuestionReport, Report};
use crate::exclusions::ExclusionReason;

/// Width of every chart, in SVG user units (CSS pixels at 100%).
const WIDTH: u32 = 760;
/// Where bars start; labels end just left of it.
const BAR_X: u32 = 230;
/// Width of a 100% bar.
const BAR_W: u32 = 400;
/// Height of one chart row and of its bar.
const ROW_H: u32 = 28;
const BAR_H: u32 = 18;
/// Labels longer than this are clipped (the full text is in the tooltip),
/// so they never run into the bars.
const LABEL_CHARS: usize = 30;
/// One colour per answer value, in the order of the question's shares;
/// chosen to stay apart for common colour-vision deficiencies.
const PALETTE: [&str; 8] = [
    "#1f6fb4", "#e08a1e", "#2a9d6f", "#c8433b", "#7b5ea7", "#8c6d3f", "#d16ba5", "#6b7b8c",
];
/// The funnel's colours: stages, and the excluded contacts.
const STAGE: &str = "#1f6fb4";
const EXCLUDED: &str = "#9aa5b1";

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2329;\
background:#fff;margin:0 auto;max-width:800px;padding:24px 20px;line-height:1.4}\
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 6px}\
h3{font-size:1em;margin:18px 0 4px}.meta,.note{color:#5a6570;margin:0 0 8px}\
svg.chart{display:block;width:100%;height:auto;max-width:760px}\
svg text{font-size:13px;fill:#1d2329}svg text.value{fill:#3b4651}\
svg text.inbar{fill:#fff;font-size:11px}svg text.sub{fill:#5a6570;font-style:italic}\
ul.legend{list-style:none;padding:0;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:4px 16px}\
ul.legend li{font-size:13px}ul.legend span{display:inline-block;width:12px;height:12px;\
margin-right:6px;vertical-align:-1px}\
footer{margin-top:32px;color:#5a6570;font-size:.85em}";

/// Renders `report` as one self-contained HTML page: the funnel, a bar
/// chart per question with counts and percentages, and each question's
/// answer shares by the language of the call.
///
/// The page holds what the report holds and nothing more: pseudonymous
/// counts, never a phone number.
pub fn render_html(report: &Report) -> String {
    Page(report).to_string()
}

struct Page<'a>(&'a Report);

impl Display for Page<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{} – survey report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            Esc(&r.title)
        )?;
        writeln!(f, "<h1>{}</h1>", Esc(&r.title))?;
        writeln!(
            f,
            "<p class=\"meta\">Campaign {} · survey script <code>{}</code></p>",
            r.campaign,
            Esc(&r.script_id)
        )?;
        funnel(f, r)?;
        writeln!(f, "<section id=\"questions\">\n<h2>Answers</h2>")?;
        if r.questions.is_empty() {
            writeln!(f, "<p class=\"note\">No answers yet.</p>")?;
        }
        for (i, q) in r.questions.iter().enumerate() {
            question(f, i, q)?;
        }
        writeln!(f, "</section>")?;
        languages(f, r)?;
        writeln!(
            f,
            "<footer>Each resident counts once per question, with their latest answer. \
             Answers are pseudonymous; this page holds no phone numbers.</footer>\n\
             </body>\n</html>"
        )
    }
}

/// The funnel as horizontal bars, each a share of all contacts (of the
/// callers for an inbound-only campaign, as in the terminal report).
fn funnel(f: &mut Formatter<'_>, r: &Report) -> fmt::Result {
    let fu = &r.funnel;
    let whole = if fu.contacts > 0 {
        fu.contacts
    } else {
        fu.attempted
    };
    // (label, count, colour, is an exclusion reason under "excluded")
    let mut rows: Vec<(&str, u64, &str, bool)> = vec![
        ("contacts", fu.contacts, STAGE, false),
        ("excluded", fu.excluded.total(), EXCLUDED, false),
    ];
    for reason in ExclusionReason::ALL {
        let n = fu.excluded.get(reason);
        if n > 0 {
            rows.push((reason.as_str(), n, EXCLUDED, true));
        }
    }
    rows.extend([
        ("attempted", fu.attempted, STAGE, false),
        ("reached", fu.reached, STAGE, false),
        ("consented", fu.consented, STAGE, false),
        ("completed", fu.completed, STAGE, false),
        ("declined", fu.declined, EXCLUDED, false),
        ("opted out", fu.opted_out, EXCLUDED, false),
    ]);
    writeln!(f, "<section id=\"funnel\">\n<h2>Funnel</h2>")?;
    open_svg(f, "funnel", rows.len(), "Funnel: residents at each stage")?;
    for (i, &(label, n, colour, sub)) in rows.iter().enumerate() {
        let share = (whole > 0).then(|| percent(n, whole));
        bar_row(f, i, label, n, share, colour, sub)?;
    }
    writeln!(f, "</svg>\n</section>")
}

/// One question's bar chart: one bar per answer value.
fn question(f: &mut Formatter<'_>, index: usize, q: &QuestionReport) -> fmt::Result {
    writeln!(
        f,
        "<section class=\"question\" id=\"q{index}\">\n<h3>{}</h3>\n\
         <p class=\"note\">{} answered</p>",
        Esc(&q.question),
        q.answered
    )?;
    open_svg(
        f,
        "question",
        q.shares.len(),
        &format!("Answers to {}", q.question),
    )?;
    for (i, s) in q.shares.iter().enumerate() {
        bar_row(f, i, &s.value, s.count, Some(s.percent), colour(i), false)?;
    }
    writeln!(f, "</svg>\n</section>")
}

/// For each question, one 100% bar per language, split by answer value.
fn languages(f: &mut Formatter<'_>, r: &Report) -> fmt::Result {
    writeln!(
        f,
        "<section id=\"languages\">\n<h2>Answer share by language</h2>"
    )?;
    if r.questions.is_empty() {
        writeln!(f, "<p class=\"note\">No answers yet.</p>")?;
    }
    for (index, q) in r.questions.iter().enumerate() {
        writeln!(
            f,
            "<div class=\"by-language\" id=\"lang-q{index}\">\n<h3>{}</h3>",
            Esc(&q.question)
        )?;
        open_svg(
            f,
            "language",
            q.by_language.len(),
            &format!("Answers to {} by language", q.question),
        )?;
        for (row, l) in q.by_language.iter().enumerate() {
            let label = format!("{} ({})", language_label(l.language.as_deref()), l.answered);
            stacked_row(f, row, &label, &l.shares, &q.shares)?;
        }
        writeln!(f, "</svg>\n<ul class=\"legend\">")?;
        for (i, s) in q.shares.iter().enumerate() {
            writeln!(
                f,
                "<li><span style=\"background:{}\"></span>{}</li>",
                colour(i),
                Esc(&s.value)
            )?;
        }
        writeln!(f, "</ul>\n</div>")?;
    }
    writeln!(f, "</section>")
}

fn open_svg(f: &mut Formatter<'_>, class: &str, rows: usize, label: &str) -> fmt::Result {
    let height = ROW_H * rows.max(1) as u32 + 4;
    writeln!(
        f,
        "<svg class=\"chart {class}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" \
         role=\"img\" aria-label=\"{}\">",
        Esc(label)
    )
}

/// One labelled bar of `share` percent (none: the whole is unknown), with
/// the count and percentage printed after the bar area. A `sub` row breaks
/// down the row above it and is labelled in a quieter type.
fn bar_row(
    f: &mut Formatter<'_>,
    row: usize,
    label: &str,
    n: u64,
    share: Option<f64>,
    colour: &str,
    sub: bool,
) -> fmt::Result {
    let y = row as u32 * ROW_H + 4;
    let text_y = y + BAR_H - 4;
    let width = share.map_or(0.0, bar_width);
    let class = if sub { " class=\"sub\"" } else { "" };
    let value = match share {
        Some(p) => format!("{n} ({p:.1}%)"),
        None => n.to_string(),
    };
    writeln!(
        f,
        "<g><title>{}: {}</title>\
         <text{class} x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{}</text>\
         <rect x=\"{BAR_X}\" y=\"{y}\" width=\"{BAR_W}\" height=\"{BAR_H}\" fill=\"#eef1f4\"/>\
         <rect class=\"bar\" x=\"{BAR_X}\" y=\"{y}\" width=\"{width:.1}\" height=\"{BAR_H}\" fill=\"{colour}\"/>\
         <text class=\"value\" x=\"{}\" y=\"{text_y}\">{value}</text></g>",
        Esc(label),
        Esc(&value),
        BAR_X - 8,
        Esc(&clip(label)),
        BAR_X + BAR_W + 10,
    )
}

/// One labelled 100% bar split into `shares`, coloured by each value's
/// place in the question's overall `order`.
fn stacked_row(
    f: &mut Formatter<'_>,
    row: usize,
    label: &str,
    shares: &[AnswerShare],
    order: &[AnswerShare],
) -> fmt::Result {
    let y = row as u32 * ROW_H + 4;
    let text_y = y + BAR_H - 4;
    writeln!(
        f,
        "<g><text x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{}</text>",
        BAR_X - 8,
        Esc(&clip(label))
    )?;
    let mut x = f64::from(BAR_X);
    for s in shares {
        let i = order.iter().position(|o| o.value == s.value).unwrap_or(0);
        let width = bar_width(s.percent);
        writeln!(
            f,
            "<g><title>{} – {}: {} ({:.1}%)</title>\
             <rect class=\"bar\" x=\"{x:.1}\" y=\"{y}\" width=\"{width:.1}\" height=\"{BAR_H}\" fill=\"{}\"/>",
            Esc(label),
            Esc(&s.value),
            s.count,
            s.percent,
            colour(i)
        )?;
        // A percentage fits inside a segment only when it is wide enough.
        if width >= 40.0 {
            writeln!(
                f,
                "<text class=\"inbar\" x=\"{:.1}\" y=\"{text_y}\" text-anchor=\"middle\">{:.0}%</text>",
                x + width / 2.0,
                s.percent
            )?;
        }
        writeln!(f, "</g>")?;
        x += width;
    }
    writeln!(f, "</g>")
}

fn bar_width(percent: f64) -> f64 {
    percent.clamp(0.0, 100.0) / 100.0 * f64::from(BAR_W)
}

fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// `text` cut to [`LABEL_CHARS`] characters, with an ellipsis if cut.
fn clip(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        text.to_owned()
    } else {
        let mut clipped: String = text.chars().take(LABEL_CHARS - 1).collect();
        clipped.push('…');
        clipped
    }
}

/// Text escaped for HTML element content and quoted attribute values.
struct Esc<'a>(&'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exclusions::ExclusionCounts;
    use crate::report::LanguageShares;
    use crate::store::FunnelCounts;

    fn share(value: &str, count: u64, answered: u64) -> AnswerShare {
        AnswerShare {
            value: value.into(),
            count,
            percent: percent(count, answered),
        }
    }

    fn sample() -> Report {
        let mut excluded = ExclusionCounts::default();
        excluded.add(ExclusionReason::Minor);
        excluded.add(ExclusionReason::Business);
        excluded.add(ExclusionReason::Business);
        Report {
            campaign: 7,
            title: "Oulu <digital> & \"services\"".into(),
            script_id: "digital-services".into(),
            funnel: FunnelCounts {
                contacts: 1234,
                excluded,
                attempted: 1001,
                reached: 760,
                consented: 120,
                completed: 117,
                opted_out: 9,
                declined: 40,
            },
            questions: vec![
                QuestionReport {
                    question: "used_digital".into(),
                    answered: 4,
                    shares: vec![share("yes", 3, 4), share("no", 1, 4)],
                    by_language: vec![
                        LanguageShares {
                            language: Some("fi".into()),
                            answered: 3,
                            shares: vec![share("yes", 2, 3), share("no", 1, 3)],
                        },
                        LanguageShares {
                            language: None,
                            answered: 1,
                            shares: vec![share("yes", 1, 1)],
                        },
                    ],
                },
                QuestionReport {
                    question: "channel".into(),
                    answered: 2,
                    shares: vec![
                        share("<script>alert(1)</script>", 1, 2),
                        share("chat", 1, 2),
                    ],
                    by_language: vec![LanguageShares {
                        language: Some("sv\"><img src=x onerror=alert(2)>".into()),
                        answered: 2,
                        shares: vec![
                            share("<script>alert(1)</script>", 1, 2),
                            share("chat", 1, 2),
                        ],
                    }],
                },
            ],
        }
    }

    #[test]
    fn text_from_the_store_is_escaped() {
        let html = render_html(&sample());
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<digital>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("Oulu &lt;digital&gt; &amp; &quot;services&quot;"));
        assert!(html.contains("sv&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    }

    #[test]
    fn every_question_gets_a_bar_chart_and_a_language_chart() {
        let html = render_html(&sample());
        assert_eq!(html.matches("<svg class=\"chart question\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"chart language\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"chart funnel\"").count(), 1);
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        for id in ["used_digital", "channel"] {
            assert!(html.contains(&format!("<h3>{id}</h3>")), "{id}");
        }
        assert!(html.contains(">3 (75.0%)</text>"), "{html}");
        assert!(html.contains(">1 (25.0%)</text>"), "{html}");
        assert!(html.contains(">fi (3)</text>"), "{html}");
        assert!(html.contains(">unknown language (1)</text>"), "{html}");
        // fi: yes 2 of 3 is 66.7% of the bar, then no 33.3% after it.
        assert!(
            html.contains("x=\"230.0\" y=\"4\" width=\"266.7\""),
            "{html}"
        );
        assert!(
            html.contains("x=\"496.7\" y=\"4\" width=\"133.3\""),
            "{html}"
        );
    }

    #[test]
    fn funnel_numbers_are_on_the_page() {
        let html = render_html(&sample());
        for expected in [
            ">1234 (100.0%)</text>",
            ">3 (0.2%)</text>",
            ">1001 (81.1%)</text>",
            ">760 (61.6%)</text>",
            ">120 (9.7%)</text>",
            ">117 (9.5%)</text>",
            ">9 (0.7%)</text>",
            ">40 (3.2%)</text>",
        ] {
            assert!(html.contains(expected), "{expected} missing:\n{html}");
        }
        assert!(html.contains("class=\"sub\" x=\"222\" y=\"102\" text-anchor=\"end\">minor</text>"));
        assert!(
            html.contains("class=\"sub\" x=\"222\" y=\"74\" text-anchor=\"end\">business</text>")
        );
    }

    #[test]
    fn the_page_needs_nothing_from_the_network() {
        let html = render_html(&sample());
        for external in ["<script", "<link", "src=\"http", "href=\"http", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn an_empty_campaign_renders() {
        let report = Report {
            campaign: 1,
            title: "Empty".into(),
            script_id: "s".into(),
            funnel: FunnelCounts::default(),
            questions: Vec::new(),
        };
        let html = render_html(&report);
        assert!(html.contains("No answers yet."));
        assert!(html.contains(">0</text>"), "no share without a whole");
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn long_labels_are_clipped_in_the_chart_but_whole_in_the_tooltip() {
        let long = "a".repeat(50);
        assert_eq!(clip(&long).chars().count(), LABEL_CHARS);
        assert!(clip(&long).ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
