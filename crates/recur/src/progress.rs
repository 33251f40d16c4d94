//! How the command line shows a training run's progress events: a bar per epoch on a
//! terminal, a line per epoch, and notes, all on stderr. Off a terminal (a log, a pipe), where
//! a bar would be hidden, a progress line every half minute stands in for it.

use indicatif::{ProgressBar, ProgressStyle};
use recur_train::progress::describe_epoch;
use recur_train::{EpochRecord, Event, Reporter};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a line tells a long epoch's progress when stderr is a log, not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// The reporter of a command: [`on_stderr`] unless `quiet`.
pub fn reporter(quiet: bool) -> Reporter {
    if quiet {
        Reporter::silent()
    } else {
        on_stderr()
    }
}

/// Shows a run's events on stderr, each epoch's line as [`describe_epoch`] writes it.
pub fn on_stderr() -> Reporter {
    on_stderr_with(describe_epoch)
}

/// Shows a run's events on stderr, each epoch's line as `describe` writes it (given the
/// record, the run's epochs and whether the epoch scored best).
pub fn on_stderr_with(describe: impl Fn(&EpochRecord, usize, bool) -> String + Send + Sync + 'static) -> Reporter {
    let shown = Mutex::new(Shown {
        bar: ProgressBar::hidden(),
        epoch: 0,
        epochs: 0,
        batches: 0,
        last_line: Instant::now(),
        log_lines: !std::io::stderr().is_terminal(),
        describe: Box::new(describe),
    });
    Reporter::new(move |event| {
        if let Ok(mut shown) = shown.lock() {
            shown.show(event);
        }
    })
}

/// Writes an epoch's line from its record, the run's epochs and whether it scored best.
type DescribeEpoch = dyn Fn(&EpochRecord, usize, bool) -> String + Send + Sync;

/// What is on screen.
struct Shown {
    bar: ProgressBar,
    epoch: usize,
    epochs: usize,
    batches: usize,
    last_line: Instant,
    /// Write a line now and then instead of a bar (stderr is not a terminal).
    log_lines: bool,
    /// An epoch's line.
    describe: Box<DescribeEpoch>,
}

impl Shown {
    fn show(&mut self, event: Event) {
        match event {
            Event::EpochStarted { epoch, epochs, batches } => {
                (self.epoch, self.epochs, self.batches) = (epoch, epochs, batches);
                self.bar = ProgressBar::new(batches as u64);
                let template =
                    format!("epoch {epoch}/{epochs} {{bar:30}} {{pos}}/{{len}} {{msg}} [{{elapsed}}<{{eta}}]");
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    self.bar.set_style(style);
                }
                self.last_line = Instant::now();
            }
            Event::Batch { done, loss } => {
                let message = format!("loss {loss:.4}");
                if self.log_lines && self.last_line.elapsed() >= LOG_EVERY {
                    recur_core::stderr_line!(
                        "epoch {}/{}  {done}/{} batches  {message}",
                        self.epoch,
                        self.epochs,
                        self.batches
                    );
                    self.last_line = Instant::now();
                }
                self.bar.set_message(message);
                self.bar.set_position(done as u64);
            }
            Event::EpochEnded {
                record,
                epochs,
                improved,
            } => {
                self.bar.finish_and_clear();
                recur_core::stderr_line!("{}", (self.describe)(record, epochs, improved));
            }
            Event::Resumed { epochs_done, from } => recur_core::stderr_line!(
                "resuming after epoch {epochs_done} from the checkpoint in {}",
                from.display()
            ),
            Event::Note(line) => self.bar.suspend(|| recur_core::stderr_line!("{line}")),
        }
    }
}
