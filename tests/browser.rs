//! The HTML report in a real browser: `drift corpus/ --out DIR` writes `report.html`, which
//! headless Chromium opens (DevTools protocol, `headless_chrome`). The test fails on any
//! console error, uncaught exception or failed request; checks that the verdict, the heatmap
//! and a timeline are present and visible, that a timeline's call shows its times on keyboard
//! focus, that a heatmap cell opens its output, and that a phone-width screen has no page-wide
//! horizontal scroll; and saves a screenshot (`target/browser/report.png`, or
//! `ATIF_DRIFT_SCREENSHOT`), checked not to be blank.
//!
//! The browser is `ATIF_DRIFT_CHROME`, else `chromium`, `chromium-browser` or
//! `google-chrome` on the `PATH`. Without one the test is skipped with a message, unless
//! `ATIF_DRIFT_REQUIRE_BROWSER` is set (CI sets it: `.ci/run` installs Debian's `chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};

fn browser_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ATIF_DRIFT_CHROME") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `drift corpus/ --out DIR` with the built-in policy: the report a user gets.
fn write_report(dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_atif-drift"))
        .current_dir(root())
        .args(["drift", "corpus/", "--quiet", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("report.html")
}

/// Evaluate `js` in the page; its value as JSON (stringified in the page: an object is
/// otherwise returned as a reference, not a value).
fn eval(tab: &Tab, js: &str) -> serde_json::Value {
    let r = tab
        .evaluate(&format!("JSON.stringify({js})"), false)
        .unwrap();
    match r.value {
        Some(serde_json::Value::String(s)) => serde_json::from_str(&s).unwrap(),
        _ => serde_json::Value::Null,
    }
}

/// Whether the element `selector` is rendered with a size and not hidden.
fn visible(tab: &Tab, selector: &str) -> bool {
    let js = format!(
        "(() => {{ const e = document.querySelector({s}); if (!e) return false; \
         e.scrollIntoView(); const r = e.getBoundingClientRect(); const st = getComputedStyle(e); \
         return r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none'; }})()",
        s = serde_json::to_string(selector).unwrap()
    );
    eval(tab, &js) == serde_json::Value::Bool(true)
}

/// Distinct colours of a PNG and whether it is all one colour.
fn colours(png_bytes: &[u8]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let mut seen = std::collections::HashSet::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        seen.insert(p.to_vec());
        if seen.len() > 1000 {
            break;
        }
    }
    seen.len()
}

#[test]
fn the_html_report_in_headless_chromium() {
    let Some(chrome) = browser_path() else {
        assert!(
            std::env::var_os("ATIF_DRIFT_REQUIRE_BROWSER").is_none(),
            "ATIF_DRIFT_REQUIRE_BROWSER is set but no browser was found (ATIF_DRIFT_CHROME, chromium)"
        );
        eprintln!("skipped: no Chromium found (set ATIF_DRIFT_CHROME or install chromium)");
        return;
    };
    let tmp = root().join("target/browser-test");
    let _ = std::fs::remove_dir_all(&tmp);
    let report = write_report(&tmp);
    let size = std::fs::metadata(&report).unwrap().len();
    assert!(size < 5_000_000, "report.html is {size} bytes");
    let html = std::fs::read_to_string(&report).unwrap();
    // Self-contained: nothing to fetch (SVG's namespace is a name, not a request).
    for what in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(what), "report.html refers out: {what}");
    }

    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chrome))
            .sandbox(false)
            .window_size(Some((1280, 1500)))
            .idle_browser_timeout(Duration::from_secs(120))
            // Its profile too: left to headless_chrome, it goes in a temporary directory of
            // the system's, removed only when the browser is dropped and killed (CI once
            // found one left whole in its temporary directory, which fails the run).
            .user_data_dir(Some(tmp.join("profile")))
            // Chromium's singleton socket goes in its temporary directory and stays when the
            // browser is killed: under this test's directory, not the system's.
            .process_envs(Some(
                [("TMPDIR".to_string(), tmp.display().to_string())].into(),
            ))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tab = browser.new_tab().unwrap();
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = problems.clone();
    tab.add_event_listener(Arc::new(move |e: &Event| {
        let problem = match e {
            Event::RuntimeExceptionThrown(x) => Some(format!("exception: {:?}", x.params)),
            Event::RuntimeConsoleAPICalled(x)
                if matches!(
                    x.params.Type,
                    headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption::Error
                        | headless_chrome::protocol::cdp::Runtime::ConsoleAPICalledEventTypeOption::Warning
                ) =>
            {
                Some(format!("console: {:?}", x.params.args))
            }
            Event::LogEntryAdded(x) => Some(format!("log: {}", x.params.entry.text)),
            Event::NetworkLoadingFailed(x) => Some(format!("request failed: {:?}", x.params)),
            _ => None,
        };
        if let Some(p) = problem {
            seen.lock().unwrap().push(p);
        }
    }))
    .unwrap();
    tab.enable_log().unwrap();
    tab.enable_runtime().unwrap();
    tab.call_method(headless_chrome::protocol::cdp::Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .unwrap();
    let url = format!("file://{}", report.canonicalize().unwrap().display());
    let t0 = Instant::now();
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    // The page's own measure: from navigation to the end of its load event.
    let load = eval(
        &tab,
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()",
    );
    eprintln!(
        "report.html: {size} bytes, loaded in {:.2} s ({} ms by the page's navigation timing)",
        t0.elapsed().as_secs_f64(),
        load
    );

    // The verdict first.
    let verdict = eval(&tab, "document.querySelector('#verdict').textContent");
    assert!(
        verdict.as_str().is_some_and(|v| v.starts_with("PASS: ")),
        "{verdict}"
    );
    assert!(visible(&tab, "#verdict"));
    // The heatmap: one row per item × builder, a cell per output.
    assert!(visible(&tab, "table.heat"));
    let rows = eval(
        &tab,
        "document.querySelectorAll('table.heat tbody tr').length",
    );
    assert_eq!(rows.as_u64(), Some(20), "heatmap rows");
    // A timeline with both paths' bars.
    assert!(visible(&tab, "figure.timeline svg"));
    assert!(visible(&tab, "figure.timeline g.call rect.ist"));
    assert!(visible(&tab, "figure.timeline g.call rect.atif"));
    // Keyboard: a call takes the focus and shows its times on both sides.
    let tip = eval(
        &tab,
        "(() => { const g = document.querySelector('figure.timeline g.call'); g.focus(); \
         return [document.activeElement === g, g.closest('figure').querySelector('.tip').textContent]; })()",
    );
    assert_eq!(tip[0], serde_json::Value::Bool(true), "{tip}");
    assert!(
        tip[1]
            .as_str()
            .is_some_and(|t| t.contains("IST ") && t.contains("ATIF ")),
        "{tip}"
    );
    // A heatmap cell opens its output's patterns.
    let target = eval(
        &tab,
        "(() => { const a = document.querySelector('table.heat td.expected a'); a.click(); \
         return a.hash.slice(1); })()",
    );
    let target = target.as_str().expect("a heatmap link").to_string();
    std::thread::sleep(Duration::from_millis(200));
    let opened = eval(
        &tab,
        &format!(
            "(() => {{ const d = document.getElementById({:?}); \
             return [location.hash, d.tagName, d.open]; }})()",
            target
        ),
    );
    assert_eq!(opened[1], "DETAILS", "{opened}");
    assert_eq!(opened[2], serde_json::Value::Bool(true), "{opened}");

    // Screenshot at 1280 px, from the top.
    eval(&tab, "window.scrollTo(0, 0)");
    let shot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let path = std::env::var_os("ATIF_DRIFT_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/browser/report.png"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &shot).unwrap();
    let n = colours(&shot);
    assert!(n > 20, "the screenshot has {n} colours: blank?");
    eprintln!("screenshot: {} ({n}+ colours)", path.display());

    // A phone-width screen: the page does not scroll sideways (wide tables scroll in place).
    tab.call_method(
        headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride {
            width: 390,
            height: 844,
            device_scale_factor: 1.0,
            mobile: true,
            scale: None,
            screen_width: None,
            screen_height: None,
            position_x: None,
            position_y: None,
            dont_set_visible_size: None,
            screen_orientation: None,
            viewport: None,
            display_feature: None,
            device_posture: None,
        },
    )
    .unwrap();
    eval(
        &tab,
        "window.scrollTo(0, document.querySelector('figure.timeline').offsetTop - 40)",
    );
    let phone = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    std::fs::write(path.with_extension("phone.png"), &phone).unwrap();
    let overflow = eval(
        &tab,
        "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assert!(
        overflow.as_f64().is_some_and(|o| o <= 1.0),
        "at 390 px the page is {overflow} px too wide"
    );

    let problems = problems.lock().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
}
