//! How the command line shows a training run's progress events: a bar per epoch on a
//! terminal, a line per epoch, and notes, all on stderr. Off a terminal (a log, a pipe), where
//! a bar would be hidden, a progress line every half minute stands in for it.

use indicatif::{ProgressBar, ProgressStyle};
use recur_train::progress::{describe_epoch, epoch_of};
use recur_train::{Clock, EpochRecord, Event, Reporter};
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
/// record, the run's epochs (`None`: until its time limit) and whether the epoch scored best).
pub fn on_stderr_with(
    describe: impl Fn(&EpochRecord, Option<usize>, bool) -> String + Send + Sync + 'static,
) -> Reporter {
    let shown = Mutex::new(Shown {
        bar: ProgressBar::hidden(),
        epoch_label: String::new(),
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

/// Writes an epoch's line from its record, the run's epochs (`None`: until its time limit)
/// and whether it scored best.
type DescribeEpoch = dyn Fn(&EpochRecord, Option<usize>, bool) -> String + Send + Sync;

/// How a starting epoch is named: `3/40`, `3/40 (2.5 of 20.0 min)` in a run with a time limit,
/// `3 (2.5 of 20.0 min)` in one that trains until it.
fn epoch_label(epoch: usize, epochs: Option<usize>, clock: Option<Clock>) -> String {
    match clock {
        Some(clock) => format!("{} ({clock})", epoch_of(epoch, epochs)),
        None => epoch_of(epoch, epochs),
    }
}

/// What is on screen.
struct Shown {
    bar: ProgressBar,
    /// The epoch as the bar and the log lines name it (see [`epoch_label`]).
    epoch_label: String,
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
            Event::EpochStarted {
                epoch,
                epochs,
                batches,
                clock,
            } => {
                self.epoch_label = epoch_label(epoch, epochs, clock);
                self.batches = batches;
                self.bar = ProgressBar::new(batches as u64);
                let template = format!(
                    "epoch {} {{bar:30}} {{pos}}/{{len}} {{msg}} [{{elapsed}}<{{eta}}]",
                    self.epoch_label
                );
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    self.bar.set_style(style);
                }
                self.last_line = Instant::now();
            }
            Event::Batch { done, loss } => {
                let message = format!("loss {loss:.4}");
                if self.log_lines && self.last_line.elapsed() >= LOG_EVERY {
                    recur_core::stderr_line!("epoch {}  {done}/{} batches  {message}", self.epoch_label, self.batches);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_limited_run_shows_its_clock_not_a_million_epochs() {
        let clock = Clock {
            elapsed: 150.0,
            limit: 1200.0,
        };
        assert_eq!(epoch_label(3, None, Some(clock)), "3 (2.5 of 20.0 min)");
        assert_eq!(epoch_label(3, Some(40), Some(clock)), "3/40 (2.5 of 20.0 min)");
        assert_eq!(epoch_label(3, Some(40), None), "3/40");
    }
}
