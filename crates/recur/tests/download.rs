//! `recur data download` against a real HTTP server on localhost: whole classes, a connection
//! that drops mid-file (resumed with a Range request), a `.part` left by a killed run, a server
//! that ignores ranges, `--max-per-class`, and an unknown class.

mod common;

use common::{fails_with, recur, temp_dir};
use recur_data::quickdraw::{ndjson, synth};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the server does, and what it was asked.
#[derive(Default)]
struct ServerState {
    /// Path → file body.
    files: HashMap<String, Vec<u8>>,
    /// Cut the body of the next N responses after this many bytes (the connection then closes).
    drop_after: Option<(usize, usize)>,
    /// Answer every request with the whole file, as a server without range support does.
    ignore_ranges: bool,
    /// Every request: (path, Range header if any).
    requests: Vec<(String, Option<String>)>,
}

/// Starts an HTTP/1.1 server on a free port; returns its base URL and its state.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<ServerState>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/quickdraw/", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(ServerState {
        files,
        ..Default::default()
    }));
    let shared = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &shared);
        }
    });
    (url, state)
}

fn answer(mut stream: TcpStream, state: &Mutex<ServerState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let mut s = state.lock().unwrap();
    s.requests.push((path.clone(), range.clone()));
    let Some(body) = s.files.get(&path).cloned() else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let start = match (&range, s.ignore_ranges) {
        (Some(r), false) => r
            .trim_start_matches("bytes=")
            .trim_end_matches('-')
            .parse::<usize>()
            .unwrap(),
        _ => 0,
    };
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            body.len() - start,
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let mut send = &body[start..];
    if let Some((cut, times)) = s.drop_after {
        send = &send[..cut.min(send.len())];
        s.drop_after = (times > 1).then_some((cut, times - 1));
    }
    drop(s);
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(send);
}

/// Generated drawings of `class` as an ndjson file body.
fn ndjson_body(class: &str, word: &str) -> Vec<u8> {
    let lines: Vec<String> = synth::generate(40, 3)
        .into_iter()
        .filter(|d| d.word == class)
        .map(|mut d| {
            d.word = word.to_string();
            ndjson::to_line(&d)
        })
        .collect();
    (lines.join("\n") + "\n").into_bytes()
}

fn files() -> HashMap<String, Vec<u8>> {
    HashMap::from([
        ("/quickdraw/cat.ndjson".to_string(), ndjson_body("smiley", "cat")),
        (
            "/quickdraw/The%20Eiffel%20Tower.ndjson".to_string(),
            ndjson_body("house", "The Eiffel Tower"),
        ),
    ])
}

fn download(url: &str, out: &Path, classes: &str, extra: &[&str]) -> std::process::Output {
    let out = out.to_str().unwrap();
    recur(
        &[
            &[
                "data",
                "download",
                "--classes",
                classes,
                "--out",
                out,
                "--base-url",
                url,
            ],
            extra,
        ]
        .concat(),
    )
}

fn succeeded(o: &std::process::Output) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "failed: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn a_dropped_connection_is_resumed_with_a_range_request() {
    let (url, state) = serve(files());
    state.lock().unwrap().drop_after = Some((1000, 2));
    let out = temp_dir("download-drop");
    let o = download(&url, &out, "cat,The Eiffel Tower", &[]);
    succeeded(&o);
    let served = files();
    assert_eq!(
        std::fs::read(out.join("cat.ndjson")).unwrap(),
        served["/quickdraw/cat.ndjson"]
    );
    assert_eq!(
        std::fs::read(out.join("The Eiffel Tower.ndjson")).unwrap(),
        served["/quickdraw/The%20Eiffel%20Tower.ndjson"]
    );
    assert!(!out.join("cat.ndjson.part").exists());
    let requests = state.lock().unwrap().requests.clone();
    let cat: Vec<_> = requests.iter().filter(|(p, _)| p.ends_with("cat.ndjson")).collect();
    // Cut twice at 1000 bytes, resumed from the last whole line each time, then finished.
    assert_eq!(cat.len(), 3, "{requests:?}");
    assert_eq!(cat[0].1, None);
    let first_resume: usize = cat[1]
        .1
        .as_deref()
        .unwrap()
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(first_resume > 0 && first_resume <= 1000, "{requests:?}");
    assert_eq!(served["/quickdraw/cat.ndjson"][first_resume - 1], b'\n');

    // A second run finds the files complete and fetches nothing.
    let before = state.lock().unwrap().requests.len();
    let o = download(&url, &out, "cat,The Eiffel Tower", &[]);
    succeeded(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("already there"));
    assert_eq!(state.lock().unwrap().requests.len(), before);

    // The downloaded files are read by the same loader as any Quick, Draw! data.
    let render = out.join("grid.svg");
    succeeded(&recur(&[
        "render",
        "--input",
        out.join("cat.ndjson").to_str().unwrap(),
        "--out",
        render.to_str().unwrap(),
        "--grid",
    ]));
}

#[test]
fn a_killed_run_continues_from_its_part_file() {
    let (url, state) = serve(files());
    let out = temp_dir("download-part");
    let body = files()["/quickdraw/cat.ndjson"].clone();
    // A killed run left two whole lines and half of the third.
    let second_newline = body.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(1).unwrap().0 + 1;
    std::fs::write(out.join("cat.ndjson.part"), &body[..second_newline + 17]).unwrap();
    succeeded(&download(&url, &out, "cat", &[]));
    assert_eq!(std::fs::read(out.join("cat.ndjson")).unwrap(), body);
    let requests = state.lock().unwrap().requests.clone();
    assert_eq!(
        requests,
        vec![(
            "/quickdraw/cat.ndjson".to_string(),
            Some(format!("bytes={second_newline}-"))
        )]
    );
}

#[test]
fn a_server_without_ranges_sends_everything_again() {
    let (url, state) = serve(files());
    state.lock().unwrap().ignore_ranges = true;
    let out = temp_dir("download-norange");
    let body = files()["/quickdraw/cat.ndjson"].clone();
    std::fs::write(out.join("cat.ndjson.part"), b"{\"stale\": true}\n").unwrap();
    succeeded(&download(&url, &out, "cat", &[]));
    assert_eq!(std::fs::read(out.join("cat.ndjson")).unwrap(), body);
}

#[test]
fn max_per_class_keeps_the_first_drawings() {
    let (url, _state) = serve(files());
    let out = temp_dir("download-max");
    let o = download(&url, &out, "cat", &["--max-per-class", "3"]);
    succeeded(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cat: 3 drawings"));
    let got = String::from_utf8(std::fs::read(out.join("cat.ndjson")).unwrap()).unwrap();
    let body = String::from_utf8(files()["/quickdraw/cat.ndjson"].clone()).unwrap();
    let first3: Vec<&str> = body.lines().take(3).collect();
    assert_eq!(got, first3.join("\n") + "\n");
}

#[test]
fn an_unknown_class_is_named_and_the_others_still_arrive() {
    let (url, _state) = serve(files());
    let out = temp_dir("download-404");
    let o = download(&url, &out, "cat,unicorn pony", &[]);
    assert!(out.join("cat.ndjson").is_file());
    assert!(!out.join("unicorn pony.ndjson").exists());
    fails_with(o, "unicorn pony");
}
