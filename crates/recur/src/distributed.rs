//! Runs under `mpirun`: joins the MPI job (feature `mpi`) so that `recur train` and `recur fit`
//! train one model across the ranks, and makes any failure end the whole job.
//!
//! A rank that stops on an error or a panic while the others wait in an all-reduce would hang
//! the job, so under MPI every failure calls `MPI_Abort`: mpirun then ends every rank and exits
//! non-zero. Models and checkpoints are written atomically by rank 0, so an aborted job leaves
//! the last complete ones.

use std::any::Any;
use std::process::ExitCode;

/// Environment variables through which launchers (Open MPI, MPICH/Hydra, PMIx) give a process
/// its world size or rank.
const LAUNCHER_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"];

/// Processes in the job as the launcher says (1 when not launched by one).
fn launched_size() -> usize {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(1)
}

/// The MPI job this process belongs to, if any.
pub struct Session {
    #[cfg(feature = "mpi")]
    universe: Option<mpi::environment::Universe>,
    rank: usize,
    size: usize,
}

/// Joins the MPI job when a launcher started this process (feature `mpi`); without the feature a
/// launch of several ranks is refused, since each would train the whole model on its own.
pub fn start() -> anyhow::Result<Session> {
    let launched = LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some());
    if !launched {
        return Ok(Session::alone());
    }
    join(launched_size())
}

#[cfg(not(feature = "mpi"))]
fn join(size: usize) -> anyhow::Result<Session> {
    if size > 1 {
        anyhow::bail!(
            "started as one of {size} MPI ranks, but this recur was built without MPI: rebuild it \
             with `cargo build --release --features mpi` (each rank would otherwise train alone)"
        );
    }
    Ok(Session::alone())
}

#[cfg(feature = "mpi")]
fn join(_size: usize) -> anyhow::Result<Session> {
    use mpi::environment::Threading;
    use mpi::traits::Communicator;
    // Worker threads never call MPI; the thread that trains does.
    let Some((universe, _)) = mpi::initialize_with_threading(Threading::Funneled) else {
        anyhow::bail!("MPI could not be initialised");
    };
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    if size > 1 {
        recur_train::distributed::install(std::rc::Rc::new(mpi_group::World(world)));
    }
    Ok(Session {
        universe: Some(universe),
        rank,
        size,
    })
}

impl Session {
    fn alone() -> Self {
        Session {
            #[cfg(feature = "mpi")]
            universe: None,
            rank: 0,
            size: 1,
        }
    }

    /// Ends the process with the command's outcome (`Err` from a panic); under MPI a failing
    /// rank aborts the whole job so that no rank waits forever.
    pub fn finish(self, outcome: Result<anyhow::Result<()>, Box<dyn Any + Send>>) -> ExitCode {
        let e = match outcome {
            Ok(Ok(())) => return ExitCode::SUCCESS,
            Ok(Err(e)) => e,
            // The panic hook has printed the message.
            Err(_) if self.size > 1 => self.abort(101),
            Err(panic) => std::panic::resume_unwind(panic),
        };
        if self.size == 1 {
            recur_core::stderr_line!("error: {e:#}");
            return ExitCode::FAILURE;
        }
        let pause = |seconds| std::thread::sleep(std::time::Duration::from_secs(seconds));
        if self.rank == 0 {
            recur_core::stderr_line!("error: {e:#}");
            // A rank whose own failure stopped this one prints it meanwhile.
            pause(1);
        } else if recur_train::distributed::failure_is_shared() {
            // Every rank has this error and rank 0 reports it, then ends the job; aborting
            // here too is the fallback should rank 0 be gone.
            pause(3);
        } else {
            recur_core::stderr_line!("error on rank {}: {e:#}", self.rank);
        }
        self.abort(1)
    }

    /// Ends every rank of the job (`MPI_Abort`); mpirun exits non-zero.
    #[cfg(feature = "mpi")]
    fn abort(&self, code: i32) -> ! {
        use mpi::traits::Communicator;
        match &self.universe {
            Some(u) => u.world().abort(code),
            None => std::process::exit(code),
        }
    }

    /// Without MPI there is no job to end beyond this process.
    #[cfg(not(feature = "mpi"))]
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

#[cfg(feature = "mpi")]
mod mpi_group {
    use mpi::collective::SystemOperation;
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::{Communicator, CommunicatorCollectives};
    use recur_train::Collective;

    /// Training across the ranks of `MPI_COMM_WORLD`.
    pub struct World(pub SimpleCommunicator);

    impl Collective for World {
        fn rank(&self) -> usize {
            self.0.rank() as usize
        }

        fn size(&self) -> usize {
            self.0.size() as usize
        }

        fn sum_f32(&self, values: &mut [f32]) {
            let send = values.to_vec();
            self.0.all_reduce_into(&send[..], values, SystemOperation::sum());
        }

        fn sum_f64(&self, values: &mut [f64]) {
            let send = values.to_vec();
            self.0.all_reduce_into(&send[..], values, SystemOperation::sum());
        }

        fn gather_u64(&self, value: u64) -> Vec<u64> {
            let mut all = vec![0u64; self.size()];
            self.0.all_gather_into(&value, &mut all[..]);
            all
        }
    }
}
