//! The web UI in a real browser: the real `shipshape serve --demo` binary,
//! Debian's headless Chromium driven through chromedriver (`fantoccini`,
//! plain HTTP on loopback). Skips with a message when chromium or
//! chromedriver is not installed (`scripts/test.sh` installs both).
//!
//! Screenshots of every screen land in
//! `$CARGO_TARGET_TMPDIR/browser-screenshots/` (look at them).

#![allow(clippy::print_stderr)] // skips and figures must show in the test output

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use support::serve::Server;

const PASSWORD: &str = "browser-test-password";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A child process killed when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `shipshape serve --demo` on a free port.
fn serve_demo(dir: &Path) -> Server {
    support::serve::serve(
        Some(dir),
        &["--demo"],
        Some(PASSWORD),
        Duration::from_secs(120),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// chromedriver on a free loopback port, once it accepts connections.
fn chromedriver() -> (Reaped, String) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromedriver");
    let child = Reaped(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not listen on {port} in 30 s");
}

async fn browser(driver: &str, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1440,1000",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(driver)
        .await
        .expect("a chromium session")
}

struct Shots {
    dir: PathBuf,
    count: usize,
}

impl Shots {
    async fn take(&mut self, client: &Client, name: &str) {
        self.count += 1;
        // The whole page, not the viewport: grow the window to the
        // document's height (capped) for the shot, then put it back.
        let height = client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(1000)
            .clamp(1000, 6000);
        let _ = client.set_window_size(1440, height as u32).await;
        let png = client.screenshot().await.expect("screenshot");
        let _ = client.set_window_size(1440, 1000).await;
        let path = self.dir.join(format!("{:02}-{name}.png", self.count));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// "1–50 of 123" → 123.
async fn pager_total(client: &Client) -> u64 {
    let pager = text(client, ".pager span").await;
    pager
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("pager {pager:?}"))
}

/// First contentful paint and the load event's end, in ms from navigation
/// start, as the browser's performance timeline reports them.
async fn paint_timings(client: &Client) -> serde_json::Value {
    client
        .execute(
            "const paint = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint'); \
             const nav = performance.getEntriesByType('navigation')[0]; \
             return { fcp: paint ? paint.startTime : null, load: nav ? nav.loadEventEnd : null, \
                      bytes: nav ? nav.transferSize : null };",
            vec![],
        )
        .await
        .unwrap_or_default()
}

async fn attribute(element: &Element, name: &str) -> String {
    element
        .attr(name)
        .await
        .expect("attribute")
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_in_a_real_browser() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        eprintln!(
            "SKIPPED: the browser test needs {CHROMIUM} and {CHROMEDRIVER} \
             (apt-get install chromium chromium-driver; scripts/test.sh does it)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve_demo(&dir.path().join("data"));
    let url = server.url.clone();
    let (_driver, driver_url) = chromedriver();
    let client = browser(&driver_url, &dir.path().join("profile")).await;
    let mut shots = Shots {
        dir: Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots"),
        count: 0,
    };
    std::fs::create_dir_all(&shots.dir).expect("screenshot dir");
    // The scenario runs as a task so that a failed assertion still closes
    // the browser session (chromedriver's Chromium goes with it).
    let scenario = tokio::spawn({
        let client = client.clone();
        async move { run(&client, &url, &mut shots).await }
    });
    let outcome = scenario.await;
    let _ = client.close().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

/// Finds `what` (`name` in failure messages) and clicks it.
async fn click(client: &Client, what: Locator<'_>, name: &str) {
    client
        .find(what)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {name}: {e}"));
}

/// Finds the field `what` (`name` in failure messages) and types `text`.
async fn type_into(client: &Client, what: Locator<'_>, name: &str, text: &str) {
    client
        .find(what)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {name}: {e}"));
}

async fn run(client: &Client, url: &str, shots: &mut Shots) {
    // Not signed in: the login page, which sends us back to the overview.
    client.goto(url).await.expect("open");
    assert!(client.current_url().await.expect("url").path() == "/login");
    shots.take(client, "login").await;
    type_into(client, Locator::Id("name"), "name field", "admin").await;
    type_into(client, Locator::Id("password"), "password field", PASSWORD).await;
    click(
        client,
        Locator::Css(".login button[type=submit]"),
        "sign-in button",
    )
    .await;
    client
        .wait()
        .for_element(Locator::Id("repositories"))
        .await
        .expect("the repositories list");
    let timings = paint_timings(client).await;
    assert_eq!(text(client, ".who .user").await, "admin");
    assert_eq!(text(client, ".who .role").await, "admin");
    let all_images: u64 = text(client, "#stat-images").await.parse().expect("images");
    let all_clusters = text(client, "#stat-clusters").await;
    assert_eq!(all_clusters, "3");
    assert!(all_images > 1, "{all_images}");
    let rows = client
        .find_all(Locator::Css("#repositories tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 10);
    shots.take(client, "overview").await;
    eprintln!("overview in chromium (ms from navigation start): {timings}");

    // Filter by cluster: the statistics follow, the filter is in the URL.
    client
        .find(Locator::Id("filter-cluster"))
        .await
        .expect("cluster filter")
        .select_by_value("staging")
        .await
        .expect("choose staging");
    click(
        client,
        Locator::Css(".filters button[type=submit]"),
        "apply",
    )
    .await;
    let filtered_url = client.current_url().await.expect("url");
    assert!(
        filtered_url
            .query()
            .unwrap_or("")
            .contains("cluster=staging"),
        "{filtered_url}"
    );
    assert_eq!(text(client, "#stat-clusters").await, "1");
    let staging_images: u64 = text(client, "#stat-images").await.parse().expect("images");
    assert!(
        staging_images < all_images,
        "{staging_images} < {all_images}"
    );
    shots.take(client, "overview-staging").await;

    // Open an image whose repository has several digests.
    client.goto(url).await.expect("overview");
    let mut links = Vec::new();
    for link in client
        .find_all(Locator::Css("#repositories tbody th a"))
        .await
        .expect("repository links")
    {
        links.push(attribute(&link, "href").await);
    }
    let mut chosen = None;
    for href in &links {
        client
            .goto(&format!("{url}{href}"))
            .await
            .expect("image page");
        let options = client
            .find_all(Locator::Css("#digest option"))
            .await
            .expect("digest options");
        if options.len() > 1 {
            chosen = Some(href.clone());
            break;
        }
    }
    let chosen = chosen.expect("a demo repository with more than one digest");
    shots.take(client, "image").await;

    // Switch digest with the drop-down (our script submits on change).
    let other = client
        .find(Locator::Css("#digest option:not([selected])"))
        .await
        .expect("another digest");
    let other_digest = attribute(&other, "value").await;
    client
        .find(Locator::Id("digest"))
        .await
        .expect("digest select")
        .select_by_value(&other_digest)
        .await
        .expect("choose digest");
    let wanted = format!("/images/{other_digest}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.current_url().await.expect("url").path() != wanted {
        assert!(
            Instant::now() < deadline,
            "the digest drop-down did not navigate to {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(format!("/images/{other_digest}"), chosen);
    client
        .wait()
        .for_element(Locator::Css(".hierarchy"))
        .await
        .expect("image page");
    shots.take(client, "image-other-digest").await;

    // Find an image with vulnerabilities in more than one layer, then
    // select one layer: the list narrows to it.
    let mut narrowed = false;
    for href in &links {
        client
            .goto(&format!("{url}{href}"))
            .await
            .expect("image page");
        if client.find(Locator::Id("vulnerabilities")).await.is_err() {
            continue;
        }
        let total = pager_total(client).await;
        let mut layers = Vec::new();
        for cell in client
            .find_all(Locator::Css("#vulnerabilities tbody td:nth-child(7)"))
            .await
            .expect("layer cells")
        {
            layers.push(cell.text().await.expect("layer"));
        }
        let Some(layer) = layers
            .iter()
            .find(|l| layers.iter().any(|o| o != *l) && l.parse::<u32>().is_ok())
            .cloned()
        else {
            continue;
        };
        for checkbox in client
            .find_all(Locator::Css("#layers-form input[name=layers]"))
            .await
            .expect("layer checkboxes")
        {
            if attribute(&checkbox, "value").await != layer {
                checkbox.click().await.expect("untick layer");
            }
        }
        click(
            client,
            Locator::Css("#layers-form button[type=submit]"),
            "filter by layers",
        )
        .await;
        client
            .wait()
            .for_element(Locator::Css(".pager"))
            .await
            .expect("narrowed list");
        let url_now = client.current_url().await.expect("url");
        assert!(
            url_now
                .query()
                .unwrap_or("")
                .contains(&format!("layers={layer}")),
            "{url_now}"
        );
        let narrowed_total = pager_total(client).await;
        assert!(narrowed_total < total, "{narrowed_total} < {total}");
        for cell in client
            .find_all(Locator::Css("#vulnerabilities tbody td:nth-child(7)"))
            .await
            .expect("layer cells")
        {
            assert_eq!(cell.text().await.expect("layer"), layer);
        }
        shots.take(client, "image-one-layer").await;
        narrowed = true;
        break;
    }
    assert!(narrowed, "no demo image has vulnerabilities in two layers");

    for (tab, name) in [
        ("packages", "image-packages"),
        ("resources", "image-resources"),
    ] {
        client
            .find(Locator::Css(&format!(".tabs a[href*='tab={tab}']")))
            .await
            .expect("tab link")
            .click()
            .await
            .expect("open tab");
        client
            .wait()
            .for_element(Locator::Id(tab))
            .await
            .unwrap_or_else(|e| panic!("{tab} tab: {e}"));
        shots.take(client, name).await;
    }

    exceptions(client, url, shots).await;

    // Log out: back to the login page; the overview needs a session again.
    click(client, Locator::Css(".who button"), "log out button").await;
    client
        .wait()
        .for_element(Locator::Css(".login"))
        .await
        .expect("login page");
    client.goto(url).await.expect("overview");
    assert_eq!(client.current_url().await.expect("url").path(), "/login");
}

/// The repository names in the list on this page, top to bottom.
async fn listed_repositories(client: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for cell in client
        .find_all(Locator::Css("#repositories tbody th.repo"))
        .await
        .expect("repository cells")
    {
        names.push(cell.text().await.expect("repository"));
    }
    names
}

async fn stat_repositories(client: &Client) -> u64 {
    text(client, "#stat-repositories")
        .await
        .parse()
        .expect("repositories")
}

async fn is_displayed(client: &Client, css: &str) -> bool {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

/// Opens the drawer of the selection form, types the reason, confirms,
/// and waits for the page it returns to.
async fn confirm_in_drawer(client: &Client, reason: &str, shots: &mut Shots, shot: &str) {
    click(client, Locator::Id("open-drawer"), "drawer button").await;
    let field = client
        .wait()
        .for_element(Locator::Css("#exception-drawer[open] #reason"))
        .await
        .expect("reason field in the open drawer");
    field.send_keys(reason).await.expect("type reason");
    shots.take(client, shot).await;
    click(client, Locator::Id("confirm"), "confirm button").await;
    client
        .wait()
        .for_element(Locator::Id("notice"))
        .await
        .expect("the notice of the page the form returns to");
}

/// Except two repositories with a reason, find them in the Excepted view
/// with reason and date, cancel one with a reason, see it return.
async fn exceptions(client: &Client, url: &str, shots: &mut Shots) {
    client.goto(url).await.expect("overview");
    let before = stat_repositories(client).await;
    // Nothing selected: no "Except repositories" button (our script).
    assert!(!is_displayed(client, "#open-drawer").await);
    let names = listed_repositories(client).await;
    let chosen = [names[0].clone(), names[1].clone()];
    for name in &chosen {
        client
            .find(Locator::Css(&format!(
                "#repositories input[name=repository][value=\"{name}\"]"
            )))
            .await
            .expect("row checkbox")
            .click()
            .await
            .expect("select row");
    }
    assert!(is_displayed(client, "#open-drawer").await);
    assert!(text(client, "#open-drawer").await.contains("(2)"));
    let reason = "Accepted: internal only, reviewed by security";
    confirm_in_drawer(client, reason, shots, "except-drawer").await;
    assert!(
        text(client, "#notice")
            .await
            .contains("2 repositories excepted"),
        "{}",
        text(client, "#notice").await
    );
    assert_eq!(stat_repositories(client).await, before - 2);
    let listed = listed_repositories(client).await;
    for name in &chosen {
        assert!(!listed.contains(name), "{name} still listed: {listed:?}");
    }
    shots.take(client, "overview-after-except").await;

    // The Excepted view, from the top right: both, with reason, date, author.
    click(client, Locator::Id("view-excepted"), "Excepted link").await;
    client
        .wait()
        .for_element(Locator::Id("repositories"))
        .await
        .expect("the excepted list");
    assert_eq!(listed_repositories(client).await.len(), 2);
    for row in client
        .find_all(Locator::Css("#repositories tbody tr"))
        .await
        .expect("excepted rows")
    {
        let name = row
            .find(Locator::Css("th.repo"))
            .await
            .expect("repository")
            .text()
            .await
            .expect("text");
        assert!(chosen.contains(&name), "{name}");
        let cells = row.find_all(Locator::Css("td")).await.expect("cells");
        let mut texts = Vec::new();
        for cell in &cells {
            texts.push(cell.text().await.expect("cell"));
        }
        assert!(texts.iter().any(|t| t == reason), "{texts:?}");
        assert!(texts.iter().any(|t| t == "admin"), "{texts:?}");
        let set_on = row
            .find(Locator::Css("td time"))
            .await
            .expect("set on")
            .attr("title")
            .await
            .expect("title")
            .unwrap_or_default();
        assert!(set_on.contains('T') && set_on.ends_with('Z'), "{set_on}");
    }
    shots.take(client, "excepted").await;

    // Cancel one with a reason: back to the main list, where it is again.
    let exception_box = format!(
        "#repositories input[name=exception][aria-label=\"Select {}\"]",
        chosen[0]
    );
    client
        .find(Locator::Css(&exception_box))
        .await
        .expect("excepted row checkbox")
        .click()
        .await
        .expect("select excepted row");
    confirm_in_drawer(client, "Exposed after all", shots, "cancel-drawer").await;
    let back = client.current_url().await.expect("url");
    assert_eq!(back.path(), "/");
    assert!(
        !back.query().unwrap_or("").contains("view=excepted"),
        "{back}"
    );
    assert_eq!(stat_repositories(client).await, before - 1);
    shots.take(client, "overview-after-cancel").await;
    client
        .goto(&format!("{url}/?view=excepted"))
        .await
        .expect("Excepted view");
    assert_eq!(listed_repositories(client).await, vec![chosen[1].clone()]);
    client
        .goto(&format!("{url}/?q={}", chosen[0]))
        .await
        .expect("search");
    assert!(listed_repositories(client).await.contains(&chosen[0]));

    // The image page's drawers: the repository's and a vulnerability's.
    let href = client
        .find(Locator::Css("#repositories tbody th.repo a"))
        .await
        .expect("repository link")
        .attr("href")
        .await
        .expect("href")
        .unwrap_or_default();
    client
        .goto(&format!("{url}{href}"))
        .await
        .expect("image page");
    click(
        client,
        Locator::Id("except-repository"),
        "Except repository button",
    )
    .await;
    assert!(is_displayed(client, "details[open] .drawer-body textarea").await);
    shots.take(client, "image-except-drawer").await;
    click(
        client,
        Locator::Css("details[open] [data-close-drawer]"),
        "close",
    )
    .await;
    if let Ok(except) = client
        .find(Locator::Css("#vulnerabilities .row-action summary"))
        .await
    {
        except.click().await.expect("open vulnerability drawer");
        assert!(is_displayed(client, "details[open] input[value=everywhere]").await);
        shots.take(client, "vulnerability-except-drawer").await;
        click(
            client,
            Locator::Css("details[open] [data-close-drawer]"),
            "close",
        )
        .await;
    }
}
