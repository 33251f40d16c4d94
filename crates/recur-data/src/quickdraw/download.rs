//! Fetching simplified ndjson files from the dataset's public bucket, resumably.
//!
//! Each class is streamed into `DIR/<class>.ndjson.part` and renamed to `DIR/<class>.ndjson`
//! only when complete, so a finished file is never half-written. A `.part` left by a killed run
//! or a dropped connection is continued with an HTTP `Range` request from its last whole line;
//! a server that ignores ranges sends everything again and the `.part` is rewritten.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Google publishes the simplified drawings, one `<class>.ndjson` per class.
pub const DEFAULT_BASE_URL: &str = "https://storage.googleapis.com/quickdraw_dataset/full/simplified/";

/// How to download.
#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Folder (URL prefix) holding `<class>.ndjson`.
    pub base_url: String,
    /// Keep only the first N drawings of each class (stop reading once they are in).
    pub max_per_class: Option<usize>,
    /// How many times a broken transfer is resumed before giving up.
    pub retries: u32,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            max_per_class: None,
            retries: 5,
        }
    }
}

/// What happened to one class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassDownload {
    /// The finished file.
    pub path: PathBuf,
    /// Bytes in it.
    pub bytes: u64,
    /// Drawings (lines) in it.
    pub drawings: usize,
    /// False when the file was already there and nothing was fetched.
    pub fetched: bool,
}

/// A class that could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The class name cannot safely become a file name in the output folder.
    #[error("class name {class:?}: {message}")]
    Name {
        /// The name as given.
        class: String,
        /// Why it is refused.
        message: &'static str,
    },
    /// The server answered with an error status (404: no such class).
    #[error("{url}: the server answered HTTP {status}{hint}")]
    Status {
        /// The file's address.
        url: String,
        /// The HTTP status.
        status: u16,
        /// A word on what it probably means.
        hint: &'static str,
    },
    /// The connection failed, or kept breaking after every retry.
    #[error("{url}: {message}")]
    Transfer {
        /// The file's address.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The output folder or file could not be written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The cause, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
}

/// Checks that a class name names a file inside the output folder and nothing else: the
/// dataset's words are letters, digits, spaces and a little punctuation, never a path.
pub fn check_class_name(class: &str) -> Result<(), DownloadError> {
    let refuse = |message| {
        Err(DownloadError::Name {
            class: class.to_string(),
            message,
        })
    };
    if class.trim().is_empty() {
        return refuse("it is empty");
    }
    if class.len() > 200 {
        return refuse("it is longer than 200 bytes");
    }
    if class.contains(['/', '\\', ':']) {
        return refuse("it contains a path separator ('/', '\\' or ':')");
    }
    if class.starts_with('.') {
        return refuse("it starts with '.' (a hidden or parent-folder name)");
    }
    if class.chars().any(char::is_control) {
        return refuse("it contains a control character");
    }
    Ok(())
}

/// The address of a class's file: the base URL plus the percent-encoded class name.
pub fn class_url(base_url: &str, class: &str) -> String {
    let mut url = base_url.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    for b in format!("{class}.ndjson").bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Downloads one class into `dir`, calling `progress(bytes_so_far, total_if_known)` as bytes arrive.
/// A file already in place is kept as it is.
pub fn download_class(
    class: &str,
    dir: &Path,
    options: &DownloadOptions,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<ClassDownload, DownloadError> {
    check_class_name(class)?;
    let path = dir.join(format!("{class}.ndjson"));
    let part = dir.join(format!("{class}.ndjson.part"));
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| DownloadError::Io {
            path: p.clone(),
            error: source,
        }
    };
    if path.is_file() {
        let (bytes, drawings) = count_lines(&path).map_err(io_err(&path))?;
        return Ok(ClassDownload {
            path,
            bytes,
            drawings,
            fetched: false,
        });
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let url = class_url(&options.base_url, class);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let mut failures = 0;
    loop {
        // Resume from the last whole line of what an earlier attempt left.
        let (have, lines) = trim_to_whole_lines(&part).map_err(io_err(&part))?;
        if options.max_per_class.is_some_and(|n| lines >= n) {
            break;
        }
        match fetch_from(&agent, &url, &part, have, lines, options.max_per_class, progress) {
            Ok(()) => break,
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Broken(message)) => {
                failures += 1;
                if failures > options.retries {
                    return Err(DownloadError::Transfer {
                        url,
                        message: format!(
                            "{message} (gave up after {} retries; run again to resume)",
                            options.retries
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(200 * u64::from(failures)));
            }
        }
    }
    let (bytes, drawings) = trim_to_whole_lines(&part).map_err(io_err(&part))?;
    fs::rename(&part, &path).map_err(io_err(&path))?;
    Ok(ClassDownload {
        path,
        bytes,
        drawings,
        fetched: true,
    })
}

/// Why one request did not finish the file.
enum Attempt {
    /// Worth resuming: the connection broke or the body ended early.
    Broken(String),
    /// Not worth retrying.
    Fatal(DownloadError),
}

/// One request: appends to `part` (holding `have` bytes, `lines` lines) until the file is complete
/// or `max_lines` lines are in.
fn fetch_from(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    have: u64,
    lines: usize,
    max_lines: Option<usize>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), Attempt> {
    let Some(response) = request(agent, url, have)? else {
        return Ok(());
    };
    let resumed = response.status() == 206;
    let start = if resumed { have } else { 0 };
    let total = match (
        resumed,
        response.header("Content-Length").and_then(|v| v.parse::<u64>().ok()),
    ) {
        (true, _) => content_range_total(&response),
        (false, length) => length,
    };
    let io_fatal = |source| {
        Attempt::Fatal(DownloadError::Io {
            path: part.display().to_string(),
            error: source,
        })
    };
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(part)
        .map_err(io_fatal)?;
    file.set_len(start).map_err(io_fatal)?;
    file.seek(SeekFrom::Start(start)).map_err(io_fatal)?;
    let body = Body {
        start,
        total,
        lines: if resumed { lines } else { 0 },
        max_lines,
    };
    match body.copy(response.into_reader(), &mut file, part, progress)? {
        Copied::Lines => Ok(()),
        Copied::All => file.sync_all().map_err(io_fatal),
    }
}

/// Sends the request, resuming after `have` bytes; `None` when the part already holds the
/// whole file.
fn request(agent: &ureq::Agent, url: &str, have: u64) -> Result<Option<ureq::Response>, Attempt> {
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    match request.call() {
        Ok(r) => Ok(Some(r)),
        Err(ureq::Error::Status(416, r)) if content_range_total(&r) == Some(have) => Ok(None),
        Err(ureq::Error::Status(status, _)) => {
            let hint = match status {
                404 => " (no such class? names are the dataset's words, e.g. 'cat', 'The Eiffel Tower')",
                500.. => " (a server error: try again later)",
                _ => "",
            };
            Err(Attempt::Fatal(DownloadError::Status {
                url: url.to_string(),
                status,
                hint,
            }))
        }
        Err(ureq::Error::Transport(t)) => {
            // ureq's own message repeats the URL, which the error already names.
            let mut message = match t.message() {
                Some(m) => format!("{}: {m}", t.kind()),
                None => t.kind().to_string(),
            };
            if let Some(cause) = std::error::Error::source(&t) {
                message.push_str(&format!(": {cause}"));
            }
            Err(match t.kind() {
                ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => {
                    Attempt::Fatal(DownloadError::Transfer {
                        url: url.to_string(),
                        message,
                    })
                }
                _ => Attempt::Broken(message),
            })
        }
    }
}

/// Where a response's body goes into the part file.
struct Body {
    /// The byte of the file the body starts at.
    start: u64,
    /// The whole file's size, when the server says.
    total: Option<u64>,
    /// Lines already in the file.
    lines: usize,
    max_lines: Option<usize>,
}

/// How a body's copy ended.
enum Copied {
    /// The whole file is in.
    All,
    /// `max_lines` lines are in; the rest was not read.
    Lines,
}

impl Body {
    /// Copies `body` into `file` (the part file `part`, already at `start`), reporting
    /// progress, until the body ends or `max_lines` lines are in.
    fn copy(
        mut self,
        mut body: impl Read,
        file: &mut std::fs::File,
        part: &Path,
        progress: &mut dyn FnMut(u64, Option<u64>),
    ) -> Result<Copied, Attempt> {
        let io_fatal = |error| {
            Attempt::Fatal(DownloadError::Io {
                path: part.display().to_string(),
                error,
            })
        };
        let mut done = self.start;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Err(Attempt::Broken(format!("the transfer broke at byte {done}: {e}"))),
            };
            let (chunk, enough) = self.cut(&buf[..n]);
            file.write_all(chunk).map_err(io_fatal)?;
            done += chunk.len() as u64;
            progress(done, self.total);
            if enough {
                return Ok(Copied::Lines);
            }
        }
        match self.total {
            Some(total) if done < total => {
                Err(Attempt::Broken(format!("the transfer ended at byte {done} of {total}")))
            }
            _ => Ok(Copied::All),
        }
    }

    /// The part of `chunk` to keep: all of it, or up to and including the `max_lines`-th
    /// newline (then `true`: stop reading).
    fn cut<'c>(&mut self, chunk: &'c [u8]) -> (&'c [u8], bool) {
        let Some(max) = self.max_lines else {
            return (chunk, false);
        };
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                self.lines += 1;
                if self.lines == max {
                    return (&chunk[..i + 1], true);
                }
            }
        }
        (chunk, false)
    }
}

/// The total size in a `Content-Range: bytes a-b/TOTAL` (or `bytes */TOTAL`) header.
fn content_range_total(response: &ureq::Response) -> Option<u64> {
    response
        .header("Content-Range")?
        .rsplit('/')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Cuts a partial file back to its last newline; returns its size and line count (0, 0 if absent).
fn trim_to_whole_lines(path: &Path) -> std::io::Result<(u64, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let (mut whole, mut lines, mut offset) = (0u64, 0usize, 0u64);
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        if line.ends_with(b"\n") {
            whole = offset;
            lines += 1;
        }
    }
    if whole != offset {
        OpenOptions::new().write(true).open(path)?.set_len(whole)?;
    }
    Ok((whole, lines))
}

/// Size and line count of a finished file.
fn count_lines(path: &Path) -> std::io::Result<(u64, usize)> {
    let mut reader = BufReader::new(File::open(path)?);
    let (mut bytes, mut lines) = (0u64, 0usize);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((bytes, lines));
        }
        lines += buf.iter().filter(|&&b| b == b'\n').count();
        let n = buf.len();
        bytes += n as u64;
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_percent_encoded() {
        assert_eq!(
            class_url("http://h/x", "The Eiffel Tower"),
            "http://h/x/The%20Eiffel%20Tower.ndjson"
        );
        assert_eq!(class_url("http://h/x/", "cat"), "http://h/x/cat.ndjson");
    }

    #[test]
    fn a_partial_line_is_cut_off() {
        let dir = std::env::temp_dir().join(format!("recur-part-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let part = dir.join("a.part");
        fs::write(&part, b"{\"a\":1}\n{\"b\":2}\n{\"c\"").unwrap();
        assert_eq!(trim_to_whole_lines(&part).unwrap(), (16, 2));
        assert_eq!(fs::read(&part).unwrap().len(), 16);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// `--classes '../../escaped'` used to write outside `--out`, an absolute name anywhere.
    #[test]
    fn class_names_that_are_paths_are_refused() {
        for bad in [
            "../../escaped",
            "/tmp/x",
            "a/b",
            "..",
            ".hidden",
            "C:x",
            "a\\b",
            "",
            "a\nb",
        ] {
            let e = check_class_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("class name"), "{bad}: {e}");
        }
        for good in ["cat", "The Eiffel Tower", "t-shirt", "paper clip", "hockey stick"] {
            check_class_name(good).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("recur-escape-{}", std::process::id()));
        let e = download_class("../../escaped", &dir, &DownloadOptions::default(), &mut |_, _| {});
        assert!(matches!(e, Err(DownloadError::Name { .. })));
        assert!(!dir.exists(), "nothing is created for a refused name");
    }
}
