//! Requests arriving together, run as one batch: a model's worker takes the first waiting
//! request and every other one already queued behind it (up to `--max-batch` items), runs them
//! through the model in one call, and hands each request its own answers. Under load the queue
//! fills while the worker is busy, and the batched kernels take the load. A request that finds
//! the queue empty runs at once, unless the last call held several requests: then it waits a
//! moment for as many (see [`Company::wait`]). A model call that panics answers its requests
//! with an error, and the worker goes on.

use crate::error::ApiError;
use crate::metrics::Metrics;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// One request's items and where its answers go.
struct Job<I, O> {
    items: Vec<I>,
    reply: oneshot::Sender<Result<Vec<O>, ApiError>>,
}

/// A model's one call over a batch of items (handed over, so none is copied) on at most the
/// given number of threads: an answer per item, in order.
pub type RunBatch<I, O> = dyn Fn(Vec<I>, usize) -> Result<Vec<O>, ApiError> + Send + Sync;

/// The cores every model's workers share. A call made while no other runs may use them all
/// (a lone drawing then runs a bidirectional layer's directions at once); calls running
/// together get one share each, so the load never asks for more threads than there are cores.
#[derive(Clone, Debug)]
pub struct Cores {
    total: usize,
    busy: Arc<AtomicUsize>,
}

impl Cores {
    /// `total` cores (at least one), none busy.
    pub fn new(total: usize) -> Self {
        Cores {
            total: total.max(1),
            busy: Arc::default(),
        }
    }

    /// Counts a call as running until the returned claim is dropped, and says how many
    /// threads it may use: its share of the cores, given the calls already running.
    fn claim(&self) -> Claim<'_> {
        let running = self.busy.fetch_add(1, Ordering::AcqRel) + 1;
        Claim {
            threads: (self.total / running).max(1),
            busy: &self.busy,
        }
    }
}

/// A running call's share of the [`Cores`].
struct Claim<'a> {
    threads: usize,
    busy: &'a AtomicUsize,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A queue of requests for one model and the workers that run them in batches.
pub struct Batcher<I, O> {
    queue: SyncSender<Job<I, O>>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `workers` threads running `run` on batches of up to `max_batch` items (a single
    /// larger request runs whole) with their share of `cores`, each batch's size counted in
    /// `metrics`; at most `queue` requests wait, further ones are refused.
    pub fn start(
        run: Arc<RunBatch<I, O>>,
        workers: usize,
        max_batch: usize,
        queue: usize,
        cores: Cores,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (sender, receiver) = mpsc::sync_channel(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers.max(1) {
            let (receiver, run, cores, metrics) = (receiver.clone(), run.clone(), cores.clone(), metrics.clone());
            std::thread::spawn(move || work(&receiver, run.as_ref(), max_batch.max(1), &cores, &metrics));
        }
        Batcher { queue: sender }
    }

    /// Queues `items` (refused with a 503 when the queue is full) for their answers.
    pub fn submit(&self, items: Vec<I>) -> Result<Pending<O>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { items, reply }).map_err(|e| match e {
            TrySendError::Full(_) => {
                ApiError::unavailable("the server is busy: too many requests are waiting; try again")
            }
            TrySendError::Disconnected(_) => ApiError::internal("the model's workers have stopped"),
        })?;
        Ok(Pending(answer))
    }
}

/// A queued request's answers, to come.
pub struct Pending<O>(oneshot::Receiver<Result<Vec<O>, ApiError>>);

impl<O> Pending<O> {
    /// Waits for the answers.
    pub async fn answers(self) -> Result<Vec<O>, ApiError> {
        self.0
            .await
            .map_err(|_| ApiError::internal("the model's worker stopped before answering"))?
    }
}

/// A worker: takes a batch, runs it, answers each request, until the server drops the queue.
fn work<I, O>(
    receiver: &Mutex<Receiver<Job<I, O>>>,
    run: &RunBatch<I, O>,
    max_batch: usize,
    cores: &Cores,
    metrics: &Metrics,
) {
    let mut carried = None;
    let mut company = Company::default();
    while let Some(jobs) = take_batch(receiver, max_batch, &mut carried, &company) {
        let started = Instant::now();
        company.requests = jobs.len();
        let counts: Vec<usize> = jobs.iter().map(|j| j.items.len()).collect();
        let (items, replies): (Vec<Vec<I>>, Vec<_>) = jobs.into_iter().map(|j| (j.items, j.reply)).unzip();
        let items: Vec<I> = items.into_iter().flatten().collect();
        metrics.observe_model_batch(items.len());
        let claim = cores.claim();
        // A panic in a model call (a bug) fails that call's requests, not the model: the
        // worker is the model's only one.
        let answers = std::panic::catch_unwind(AssertUnwindSafe(|| run(items, claim.threads))).unwrap_or_else(|_| {
            Err(ApiError::internal(
                "the model call failed (a bug: see the server's log)",
            ))
        });
        drop(claim);
        company.ran = started.elapsed();
        match answers {
            Ok(answers) => {
                let mut answers = answers.into_iter();
                for (reply, n) in replies.into_iter().zip(counts) {
                    // A caller that has gone away no longer needs its answer.
                    let _ = reply.send(Ok(answers.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// What a worker's last batch says about the load: how many requests it held and how long it
/// ran.
#[derive(Default)]
struct Company {
    requests: usize,
    ran: Duration,
}

impl Company {
    /// How long a batch may wait for the requests the last one held: their callers, answered
    /// together, send their next ones together, and the first to arrive would otherwise run
    /// alone while the others queue behind it (the batches alternating small and large, every
    /// answer waiting for two calls). A lone caller (a last batch of one request) never waits;
    /// the wait is a small share of a call, so that a load that has gone costs little.
    fn wait(&self) -> Duration {
        match self.requests {
            0 | 1 => Duration::ZERO,
            _ => (self.ran / COMPANY_SHARE).min(MAX_COMPANY_WAIT),
        }
    }
}

/// A batch waits for company at most a `COMPANY_SHARE`th of the last call's time …
const COMPANY_SHARE: u32 = 5;
/// … and never longer than this.
const MAX_COMPANY_WAIT: Duration = Duration::from_micros(500);

/// The next batch: the request `carried` over from the last one, or else the first waiting
/// (blocking until there is one), and those queued behind it up to `max_batch` items, waiting
/// briefly for as many requests as the last batch held (see [`Company::wait`]). A request that
/// would take the batch past `max_batch` is carried over to lead the next. `None` once the
/// queue is closed.
fn take_batch<I, O>(
    receiver: &Mutex<Receiver<Job<I, O>>>,
    max_batch: usize,
    carried: &mut Option<Job<I, O>>,
    company: &Company,
) -> Option<Vec<Job<I, O>>> {
    // A worker that panicked while holding the lock leaves a queue that is still a queue.
    let receiver = receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = match carried.take() {
        Some(job) => job,
        None => receiver.recv().ok()?,
    };
    let until = Instant::now() + company.wait();
    let mut count = first.items.len();
    let mut jobs = vec![first];
    while count < max_batch {
        let next = match until.checked_duration_since(Instant::now()) {
            Some(left) if jobs.len() < company.requests => receiver.recv_timeout(left).ok(),
            _ => receiver.try_recv().ok(),
        };
        match next {
            Some(job) if count + job.items.len() <= max_batch => {
                count += job.items.len();
                jobs.push(job);
            }
            Some(job) => {
                *carried = Some(job);
                break;
            }
            None => break,
        }
    }
    Some(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batcher whose model doubles each item and records the batch sizes it was given.
    fn doubler(workers: usize, max_batch: usize) -> (Batcher<u32, u32>, Arc<Mutex<Vec<usize>>>) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let run: Arc<RunBatch<u32, u32>> = Arc::new(move |items: Vec<u32>, _| {
            seen.lock().unwrap().push(items.len());
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(items.iter().map(|x| 2 * x).collect())
        });
        (
            Batcher::start(run, workers, max_batch, 64, Cores::new(workers), Arc::default()),
            sizes,
        )
    }

    #[test]
    fn batcher_answers_each_request_its_own_items_and_batches_those_waiting() {
        let (batcher, sizes) = doubler(1, 5);
        let pending: Vec<_> = (0..6u32)
            .map(|r| batcher.submit(vec![10 * r, 10 * r + 1]).unwrap())
            .collect();
        for (r, answer) in pending.into_iter().enumerate() {
            let r = r as u32;
            assert_eq!(answer.0.blocking_recv().unwrap().unwrap(), vec![20 * r, 20 * r + 2]);
        }
        // Queued while the worker was busy, requests go two at a time (a third would pass 5).
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 12);
        assert!(sizes.iter().all(|&n| n <= 5), "{sizes:?}");
        assert!(sizes.len() < 6, "nothing was batched: {sizes:?}");
    }

    #[test]
    fn batcher_runs_a_request_larger_than_the_batch_whole() {
        let (batcher, sizes) = doubler(2, 3);
        let answer = batcher.submit((0..7).collect()).unwrap().0.blocking_recv().unwrap();
        assert_eq!(answer.unwrap(), (0..7).map(|x| 2 * x).collect::<Vec<_>>());
        assert_eq!(*sizes.lock().unwrap(), vec![7]);
    }

    #[test]
    fn batcher_refuses_a_request_when_its_queue_is_full() {
        let run: Arc<RunBatch<u32, u32>> = Arc::new(|items: Vec<u32>, _| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            Ok(items)
        });
        let batcher = Batcher::start(run, 1, 1, 1, Cores::new(1), Arc::default());
        let mut answers = Vec::new();
        let refused = (0..4).find_map(|i| match batcher.submit(vec![i]) {
            Ok(p) => {
                answers.push(p);
                None
            }
            Err(e) => Some(e),
        });
        let e = refused.expect("a full queue refuses");
        assert_eq!(e.status.as_u16(), 503, "{}", e.message);
    }

    /// A model call that panics answers its requests with an error, and the next call runs.
    #[test]
    fn batcher_survives_a_panicking_model_call() {
        let run: Arc<RunBatch<u32, u32>> = Arc::new(|items: Vec<u32>, _| {
            assert!(!items.contains(&13), "a model bug");
            Ok(items)
        });
        let batcher = Batcher::start(run, 1, 1, 8, Cores::new(1), Arc::default());
        let failed = batcher.submit(vec![13]).unwrap().0.blocking_recv().unwrap();
        assert_eq!(failed.unwrap_err().status.as_u16(), 500);
        let answered = batcher.submit(vec![7]).unwrap().0.blocking_recv().unwrap();
        assert_eq!(answered.unwrap(), vec![7]);
    }

    /// A batch waits for company only after a call of several requests, a share of that
    /// call's time and never past the cap.
    #[test]
    fn batches_wait_for_company_only_after_a_call_of_several() {
        let after = |requests, ms| {
            Company {
                requests,
                ran: Duration::from_millis(ms),
            }
            .wait()
        };
        assert_eq!(after(0, 3), Duration::ZERO);
        assert_eq!(after(1, 3), Duration::ZERO);
        assert_eq!(after(8, 1), Duration::from_micros(200));
        assert_eq!(after(8, 30), MAX_COMPANY_WAIT);
    }

    /// A call alone may use every core; calls running together share them, none getting
    /// less than one; a finished call gives its share back.
    #[test]
    fn cores_are_shared_by_the_calls_running() {
        let cores = Cores::new(2);
        let first = cores.claim();
        assert_eq!(first.threads, 2);
        let second = cores.claim();
        let third = cores.claim();
        assert_eq!((second.threads, third.threads), (1, 1));
        drop((first, second, third));
        assert_eq!(cores.claim().threads, 2);
        assert_eq!(Cores::new(0).claim().threads, 1);
    }
}
