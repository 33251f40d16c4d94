//! One helper thread kept awake for two-way splits that recur too often to pay a wake-up each:
//! the two directions of a bidirectional layer, for a lone sequence, several times per
//! drawing. A sleeping thread took about 0.1 ms to wake on a two-core virtual machine, as long
//! as one direction of a small layer takes to run, so a split through a sleeping pool gained
//! nothing. The helper spins for a while after each job (and a little after it is first
//! asked) before it parks, so the next split a layer later finds it running.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper spins, waiting for the next job, before it parks: longer than the
/// gap between two layers of one call, short enough that an idle process soon stops burning
/// a core.
const SPIN: Duration = Duration::from_millis(1);

/// No job; a job posted, not yet started; started by the helper; finished by it.
const IDLE: u8 = 0;
const POSTED: u8 = 1;
const RUNNING: u8 = 2;
const DONE: u8 = 3;

/// A job with its borrows' lifetime erased: [`join`] waits for it to finish before any of
/// them can end.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The helper thread and the one job it may be running.
struct Helper {
    /// Taken by the caller whose job the helper runs; another caller meanwhile runs both of
    /// its halves itself.
    claimed: AtomicBool,
    state: AtomicU8,
    job: Mutex<Option<Job>>,
    thread: Thread,
}

/// The helper, started on first use and kept for the process; `None` where the thread could
/// not be started (every join then runs its halves one after the other).
fn helper() -> Option<&'static Helper> {
    static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();
    *HELPER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel::<&'static Helper>();
        let started = std::thread::Builder::new()
            .name("recur-helper".into())
            .spawn(move || {
                if let Ok(helper) = receiver.recv() {
                    serve(helper)
                }
            })
            .ok()?;
        let helper: &'static Helper = Box::leak(Box::new(Helper {
            claimed: AtomicBool::new(false),
            state: AtomicU8::new(IDLE),
            job: Mutex::new(None),
            thread: started.thread().clone(),
        }));
        sender.send(helper).ok()?;
        Some(helper)
    })
}

/// The helper's life: wait for a job (spinning, then parked), run it, say it is done.
fn serve(helper: &'static Helper) {
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        while helper.state.load(Ordering::Acquire) != POSTED {
            spins = spins.wrapping_add(1);
            // The clock is read now and then: it costs more than a spin. Waiting, the helper
            // yields its core to any other thread ready to run there (a server's own network
            // threads, another model call), which keeps it from delaying them.
            if !spins.is_multiple_of(16) || idle_since.elapsed() < SPIN {
                std::thread::yield_now();
            } else {
                // Woken by the next post (an unpark that came first returns at once).
                std::thread::park();
            }
        }
        // The caller may have taken its job back meanwhile (it finished its own half first).
        let started = helper
            .state
            .compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
        if started.is_err() {
            continue;
        }
        let job = lock(&helper.job).take();
        if let Some(job) = job {
            job();
        }
        helper.state.store(DONE, Ordering::Release);
    }
}

/// The job slot, whether or not a job panicked while it was held (none is run under it).
fn lock(job: &Mutex<Option<Job>>) -> std::sync::MutexGuard<'_, Option<Job>> {
    job.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `a` on the calling thread and `b` on the helper thread at once, and returns both
/// results; where the helper is busy with another caller's job (or could not be started), or
/// has not started `b` by the time `a` is done, runs `b` here too. A panic in either is raised
/// again here once both have finished.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    let Some(helper) = helper().filter(|h| !h.claimed.swap(true, Ordering::Acquire)) else {
        return (a(), b());
    };
    let mut b_result: Option<std::thread::Result<RB>> = None;
    let slot = &mut b_result;
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || *slot = Some(catch_unwind(AssertUnwindSafe(b))));
    // SAFETY: the job borrows `b_result` and whatever `b` borrows; this function does not
    // return or unwind before the job has run, here or on the helper (marked done there);
    // `a`'s panic is caught and raised again after that. So no borrow outlives its referent.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    *lock(&helper.job) = Some(job);
    helper.state.store(POSTED, Ordering::Release);
    helper.thread.unpark();
    let a_result = catch_unwind(AssertUnwindSafe(a));
    // A helper that has not started the job yet (still waking) would make this thread wait
    // for the wake-up: the job is taken back and run here instead.
    let taken_back = helper
        .state
        .compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire);
    if taken_back.is_ok() {
        let job = lock(&helper.job).take();
        if let Some(job) = job {
            job();
        }
    } else {
        let mut spins = 0u32;
        while helper.state.load(Ordering::Acquire) != DONE {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        helper.state.store(IDLE, Ordering::Release);
    }
    helper.claimed.store(false, Ordering::Release);
    let b_result = b_result.expect("the job ran, here or on the helper");
    match (a_result, b_result) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(panic), _) | (_, Err(panic)) => resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic's payload as text.
    fn message(panic: &Box<dyn std::any::Any + Send>) -> String {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    /// Both halves run, each result goes back to its side, borrows of the caller's data
    /// included, many times over and from several callers at once.
    #[test]
    fn join_runs_both_halves_from_any_number_of_callers() {
        std::thread::scope(|s| {
            for caller in 0..4u64 {
                s.spawn(move || {
                    for i in 0..2_000u64 {
                        let data: Vec<u64> = (0..100).map(|k| k * caller + i).collect();
                        let (x, y) = join(|| data[..50].iter().sum::<u64>(), || data[50..].iter().sum::<u64>());
                        assert_eq!(x + y, data.iter().sum::<u64>());
                    }
                });
            }
        });
    }

    /// A panic on either side reaches the caller, after which the helper still serves.
    #[test]
    fn a_panic_on_either_side_reaches_the_caller() {
        let on_helper = catch_unwind(|| join(|| 1, || -> i32 { panic!("helper side") })).unwrap_err();
        assert_eq!(message(&on_helper), "helper side");
        let on_caller = catch_unwind(|| join(|| -> i32 { panic!("caller side") }, || 2)).unwrap_err();
        assert_eq!(message(&on_caller), "caller side");
        assert_eq!(join(|| 3, || 4), (3, 4));
    }
}
