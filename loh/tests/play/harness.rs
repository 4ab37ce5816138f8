//! What the browser tests stand on: `loh up` (the binary, embedded, in a temporary data folder),
//! Debian's chromedriver, and headless Chromium sessions driven through it (fantoccini).
//! Screenshots go to `target/screenshots/`.

use fantoccini::actions::{
    InputSource, MOUSE_BUTTON_LEFT, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where the screenshots of this run go.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("target/screenshots");
    dir
}

/// `loh up`, embedded (SQLite in a temporary folder, no external service), on free ports.
pub struct LohUp {
    pub game: String,
    pub query: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for LohUp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LohUp {
    pub async fn start() -> LohUp {
        LohUp::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> LohUp {
        let data = tempfile::tempdir().expect("a data folder");
        let (game_port, query_port) = (free_port(), free_port());
        let log = std::fs::File::create(data.path().join("loh.log")).expect("a log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loh"));
        cmd.arg("up")
            .arg("--data-dir")
            .arg(data.path())
            .args(["--game-addr", &format!("127.0.0.1:{game_port}")])
            .args(["--query-addr", &format!("127.0.0.1:{query_port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for var in [
            "DATABASE_URL",
            "NATS_URL",
            "REDIS_URL",
            "LOH_DATA_DIR",
            "LOH_GAME_ADDR",
            "LOH_QUERY_ADDR",
            "LOH_TICK_MS",
            "LOH_JWT_KEY",
            "LOH_JWT_KEY_FILE",
            "LOH_ALLOWED_ORIGINS",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd.spawn().expect("run loh up");
        let up = LohUp {
            game: format!("http://127.0.0.1:{game_port}"),
            query: format!("http://127.0.0.1:{query_port}"),
            child,
            _data: data,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let game = http.get(format!("{}/healthz", up.game)).send().await;
            let query = http.get(format!("{}/healthz", up.query)).send().await;
            if game.is_ok_and(|r| r.status() == 200) && query.is_ok_and(|r| r.status() == 200) {
                return up;
            }
            assert!(
                Instant::now() < deadline,
                "loh up did not become healthy in 60 s: {}",
                up.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What `loh up` printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._data.path().join("loh.log")).unwrap_or_default()
    }
}

/// Debian's chromedriver on a free port.
pub struct Driver {
    pub url: String,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's chromium-driver package is installed (scripts/services)");
        let driver = Driver {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {}", driver.url);
    }

    /// A new headless Chromium, with its own profile (so its own session storage).
    pub async fn browser(&self, name: &str) -> Browser {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1100,1000",
                         "--hide-scrollbars"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session");
        Browser {
            client,
            name: name.to_owned(),
        }
    }
}

/// One browser window.
pub struct Browser {
    pub client: Client,
    pub name: String,
}

impl Browser {
    /// Runs `script` (a function body) and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}\n{script}", self.name))
    }

    /// Saves a screenshot as `target/screenshots/<file>.png`.
    pub async fn screenshot(&self, file: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = screenshot_dir().join(format!("{file}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Waits until the expression `cond` is true in the page (20 s at most); on a time-out, a
    /// screenshot and the page's state are in the panic.
    pub async fn wait(&self, what: &str, cond: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let script = format!("try {{ return !!({cond}); }} catch (e) {{ return false; }}");
        loop {
            if self.js(&script).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self
                    .screenshot(&format!("failed-{}-{}", self.name, what.replace(' ', "-")))
                    .await;
                let state = self.state().await;
                panic!(
                    "{}: waited 20 s for {what} ({cond}); screenshot {}; state {state}",
                    self.name,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `cond` becomes true in the page within `secs` seconds.
    pub async fn within(&self, secs: u64, cond: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let script = format!("try {{ return !!({cond}); }} catch (e) {{ return false; }}");
        while Instant::now() < deadline {
            if self.js(&script).await == Value::Bool(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The page's world model, for assertions and failure messages.
    pub async fn state(&self) -> Value {
        self.js(
            "const w = window.loh?.client?.world; if (!w?.you) return {state: document.body.dataset.state ?? null, log: document.getElementById('log')?.innerText};
             const c = window.loh.client;
             return {state: document.body.dataset.state, tick: w.tick, you: w.you,
                     queue: c.queue.map(q => ({seq: q.seq, cmd: q.cmd, retries: q.retries})),
                     in_flight: c.inFlight?.seq ?? null, next_seq: c.nextSeq,
                     players: [...w.players.values()], trade: w.trade,
                     log: document.getElementById('log').innerText,
                     banner: document.getElementById('banner').hidden ? null : document.getElementById('banner').innerText};",
        )
        .await
    }

    /// Clicks the element `css`; found again when the page redrew it in between (the panels
    /// are redrawn every tick).
    pub async fn click_css(&self, css: &str) {
        let mut last = None;
        for _ in 0..5 {
            let el = self
                .client
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name));
            match el.click().await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
        }
        panic!("{}: click {css}: {last:?}", self.name);
    }

    /// Clicks the menu entry that starts with `text`.
    pub async fn click_menu(&self, text: &str) {
        let xpath = format!("//div[@id='menu']/div[starts-with(normalize-space(.), '{text}')]");
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("{}: no menu entry {text}: {e}", self.name))
            .click()
            .await
            .expect("click the menu entry");
    }

    /// A real right click (pointer actions) on the element `css`.
    pub async fn right_click_css(&self, css: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name));
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: el,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_RIGHT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_RIGHT,
            });
        self.client
            .perform_actions(mouse)
            .await
            .expect("a right click");
        let _ = self.client.release_actions().await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name));
        el.send_keys(text).await.expect("type");
    }

    /// A real mouse click (WebDriver pointer actions) on the centre of tile `(x, y)` of the map.
    pub async fn click_tile(&self, x: i32, y: i32) {
        let centre = self
            .js(&format!("return window.loh.tileCentre({x}, {y});"))
            .await;
        let canvas = self
            .client
            .find(Locator::Id("view"))
            .await
            .expect("the canvas");
        let (w, h) = (620.0, 620.0);
        let dx = (centre[0].as_f64().expect("x") - w / 2.0).round();
        let dy = (centre[1].as_f64().expect("y") - h / 2.0).round();
        let mouse = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: canvas,
                duration: None,
                x: dx,
                y: dy,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(mouse)
            .await
            .expect("a click on the map");
        let _ = self.client.release_actions().await;
    }

    /// Opens `/play`, registers `username` and logs in, and waits for the snapshot.
    pub async fn register_and_play(&self, base: &str, username: &str) -> String {
        self.client
            .goto(&format!("{base}/play"))
            .await
            .expect("open /play");
        self.wait("the login form", "document.body.dataset.ready === 'login'")
            .await;
        self.type_into("#username", username).await;
        self.type_into("#password", "correct horse battery").await;
        self.click_css("#register-btn").await;
        self.wait(
            "the snapshot",
            "document.body.dataset.ready === '1' && document.body.dataset.state === 'connected'",
        )
        .await;
        self.js("return document.body.dataset.player;")
            .await
            .as_str()
            .expect("the player id")
            .to_owned()
    }
}

/// A child process killed (and waited for) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
