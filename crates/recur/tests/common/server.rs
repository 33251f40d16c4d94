//! A `recur serve` started for a test on a free loopback port, and a raw HTTP/1.1 client (so
//! no request is shaped by a library's defaults).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running `recur serve`, stopped (killed) when dropped.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// `HOST:PORT`.
    pub address: String,
    /// What it has written on stderr since it started listening.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `recur serve --port 0` with `args` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
            .args([&["serve", "--port", "0"][..], args].concat())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run recur serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(address) = line.strip_prefix("listening on http://") {
                // Keep reading stderr so the server never blocks on a full pipe.
                let log = Arc::new(Mutex::new(Vec::new()));
                let kept = log.clone();
                std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| kept.lock().unwrap().push(l)));
                return Server {
                    child,
                    address: address.to_string(),
                    log,
                };
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = child.wait();
        panic!("recur serve did not start: {seen}");
    }

    /// Sends a request, leaving the answer to be read from the stream.
    pub fn send(&self, method: &str, path: &str, body: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.address,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        stream
    }

    /// Sends a request and returns the status and the JSON body.
    pub fn ask(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        read_answer(self.send(method, path, body))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.ask("GET", path, b"")
    }

    pub fn infer(&self, model: &str, request: &Value) -> (u16, Value) {
        self.ask(
            "POST",
            &format!("/v2/models/{model}/infer"),
            request.to_string().as_bytes(),
        )
    }

    /// Each request sent `copies` times, all at once (so the server may batch them); the
    /// `outputs` of every answer, copy after copy, each asserted a 200.
    pub fn outputs_together(&self, model: &str, requests: &[Value], copies: usize) -> Vec<Value> {
        std::thread::scope(|scope| {
            let asks: Vec<_> = (0..copies)
                .flat_map(|_| requests.iter())
                .map(|q| scope.spawn(move || self.infer(model, q)))
                .collect();
            asks.into_iter()
                .map(|a| {
                    let (status, answer) = a.join().unwrap();
                    assert_eq!(status, 200, "{answer}");
                    answer["outputs"].clone()
                })
                .collect()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads an HTTP/1.1 answer to the end: its status, head and body.
pub fn read_raw(mut stream: TcpStream) -> (u16, String, String) {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status");
    (status, head.to_string(), body.to_string())
}

/// Reads an HTTP/1.1 answer to the end: its status and JSON body.
pub fn read_answer(stream: TcpStream) -> (u16, Value) {
    let (status, head, body) = read_raw(stream);
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {head}\n\n{body}"));
    (status, json)
}

/// Chromium or Chrome on this machine, if any.
pub fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// `text` with everything but letters, digits and `-_.~` percent-encoded (for a URL fragment).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
