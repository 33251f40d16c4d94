//! Progress as events: the training loops of the library say what happens through a
//! [`Reporter`], and the front end decides how to show it (a bar on a terminal, lines in a
//! log, nothing at all). No library crate draws or prints progress itself.

use crate::history::EpochRecord;
use recur_nn::{NnError, Result};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Something a training run has to tell.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// An epoch starts: its 1-based number, the epochs of the run, its batches and, in a
    /// time-limited run, the run's clock.
    EpochStarted {
        /// 1-based epoch.
        epoch: usize,
        /// Epochs in the whole run (`None`: it trains until its time limit).
        epochs: Option<usize>,
        /// Batches in this epoch.
        batches: usize,
        /// Seconds spent and allowed, when the run has a time limit.
        clock: Option<Clock>,
    },
    /// A batch finished.
    Batch {
        /// Batches done this epoch.
        done: usize,
        /// The epoch's mean training loss so far.
        loss: f64,
    },
    /// An epoch finished (validated, and checkpointed where there is a checkpoint).
    EpochEnded {
        /// Its figures.
        record: &'a EpochRecord,
        /// Epochs in the whole run (`None`: it trains until its time limit).
        epochs: Option<usize>,
        /// It scored best so far: its weights are the ones kept.
        improved: bool,
    },
    /// A run goes on from a checkpoint.
    Resumed {
        /// Epochs the checkpoint had finished.
        epochs_done: usize,
        /// The output folder holding it.
        from: &'a Path,
    },
    /// A line for the person running the job (which ensemble member starts, a setting that
    /// has no effect, what a closed-form fit scored).
    Note(&'a str),
}

/// Where a time-limited run stands: the seconds this run has trained and its limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clock {
    /// Seconds since this run (or its resumption) began.
    pub elapsed: f64,
    /// Seconds after which it starts no epoch.
    pub limit: f64,
}

impl fmt::Display for Clock {
    /// `2.5 of 20 min`: what a person watching a time-limited run wants to know.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} of {:.1} min", self.elapsed / 60.0, self.limit / 60.0)
    }
}

/// An epoch's number as a progress line shows it: `3/40`, or `3` in a run that trains until
/// its time limit (where an epoch count would be meaningless).
pub fn epoch_of(epoch: usize, epochs: Option<usize>) -> String {
    match epochs {
        Some(n) => format!("{epoch}/{n}"),
        None => epoch.to_string(),
    }
}

/// What hears a job's events.
type Listener = Arc<dyn Fn(Event) + Send + Sync>;

/// Where a job's [`Event`]s go; cloned into every part of the job. The default is silent.
/// It also carries the front end's request to stop (Ctrl-C in Python), which the training
/// loops read between steps.
#[derive(Clone, Default)]
pub struct Reporter {
    listener: Option<Listener>,
    stop: Option<Arc<AtomicBool>>,
}

impl Reporter {
    /// Sends every event to `listen`.
    pub fn new(listen: impl Fn(Event) + Send + Sync + 'static) -> Self {
        Reporter {
            listener: Some(Arc::new(listen)),
            stop: None,
        }
    }

    /// The same reporter, whose run stops at its next step once `flag` is set (by the
    /// listener itself, or by anyone holding the flag).
    pub fn with_stop(self, flag: Arc<AtomicBool>) -> Self {
        Reporter {
            stop: Some(flag),
            ..self
        }
    }

    /// [`NnError::Interrupted`] once the run has been asked to stop, so a loop can `?` it
    /// between steps.
    pub fn check_stop(&self) -> Result<()> {
        match &self.stop {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(NnError::Interrupted),
            _ => Ok(()),
        }
    }

    /// Hears nothing (the same as [`Reporter::default`]).
    pub fn silent() -> Self {
        Reporter::default()
    }

    /// Whether events go anywhere (a caller may skip preparing one that would not).
    pub fn is_listening(&self) -> bool {
        self.listener.is_some()
    }

    /// Passes `event` on.
    pub fn report(&self, event: Event) {
        if let Some(listen) = &self.listener {
            listen(event);
        }
    }

    /// Passes on a [`Event::Note`].
    pub fn note(&self, line: &str) {
        self.report(Event::Note(line));
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_listening() {
            "Reporter(listening)"
        } else {
            "Reporter(silent)"
        })
    }
}

/// One line per epoch, Keras-style: `epoch 3/40  loss 0.4123  acc 0.8810  val_top1 0.8700  2.1s  *best`.
pub fn describe_epoch(r: &EpochRecord, epochs: Option<usize>, improved: bool) -> String {
    let mut line = format!("epoch {}  loss {:.4}", epoch_of(r.epoch, epochs), r.loss);
    if let Some(a) = r.accuracy {
        line += &format!("  acc {a:.4}");
    }
    for (name, value) in &r.metrics {
        line += &format!("  {name} {value:.4}");
    }
    line += &format!("  {:.1}s", r.seconds);
    if improved {
        line += "  *best";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A front end's stop (Ctrl-C in Python) is heard at the run's next check, and only then.
    #[test]
    fn a_reporter_stops_the_run_once_its_flag_is_set() {
        let flag = Arc::new(AtomicBool::new(false));
        let reporter = Reporter::new(|_| {}).with_stop(flag.clone());
        assert!(reporter.check_stop().is_ok());
        flag.store(true, Ordering::Relaxed);
        let copy = reporter.clone();
        assert!(matches!(copy.check_stop(), Err(NnError::Interrupted)));
        assert!(Reporter::silent().check_stop().is_ok());
    }
}
