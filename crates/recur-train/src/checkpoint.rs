//! Resumable checkpoints: `OUT/checkpoint/` holds the last epoch's weights
//! (`model.safetensors`), the best epoch's (`best.safetensors`), the optimiser's moments
//! (`optimizer.safetensors`, tensors `m.{i}` / `v.{i}` in parameter order) and the loop's state
//! (`state.json`: epochs done, the best epoch, patience counters, the learning-rate factor, the
//! history, the job's setup and own state, the optimiser's step).
//!
//! The files must agree, so a checkpoint is written whole into `checkpoint.new/` and then
//! swapped in by renames; a run killed at any moment leaves either the old or the new one.
//! Any [`Trainable`] model is checkpointed alike: its named parameters are its weights.

use crate::history::{EpochRecord, Goal};
use crate::optim::Optimizer;
use crate::trainable::Trainable;
use crate::trainer::Trainer;
use recur_nn::model_dir::{read_params, tensors_to_bytes, write_atomic, WEIGHTS_FILE};
use recur_nn::written::CHECKPOINT_DIRS;
use recur_nn::{NnError, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The checkpoint folder inside a training output directory.
pub const CHECKPOINT_DIR: &str = CHECKPOINT_DIRS[0];
/// The loop's state in a checkpoint folder.
pub const STATE_FILE: &str = "state.json";
/// The optimiser's moments in a checkpoint folder.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The best epoch's weights in a checkpoint folder (the last epoch's are `model.safetensors`).
pub const BEST_FILE: &str = "best.safetensors";
/// Every file a checkpoint folder holds.
pub const FILES: [&str; 4] = [WEIGHTS_FILE, BEST_FILE, OPTIMIZER_FILE, STATE_FILE];

/// The epoch loop's own state, saved after every epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FitState {
    /// Direction of the monitored metric.
    pub goal: Goal,
    /// Epochs finished.
    pub epochs_done: usize,
    /// The best epoch so far (`None` before the first).
    pub best: Option<Best>,
    /// Epochs finished since the best one.
    pub epochs_since_best: usize,
    /// Epochs finished since the best one or the last lowering of the learning rate.
    pub epochs_since_decay: usize,
    /// What the schedule's learning rate is multiplied by (lowered on plateaus).
    pub lr_factor: f64,
    /// The optimiser's step count (the moments live in `optimizer.safetensors`).
    pub optimizer_step: u64,
    /// Every epoch's figures.
    pub history: Vec<EpochRecord>,
    /// What the run is tied to (see [`crate::Curriculum::setup`]).
    pub setup: Value,
    /// The training job's own state (see [`crate::Curriculum::state`]).
    pub job: Value,
}

/// The best epoch so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// 1-based epoch.
    pub epoch: usize,
    /// Its monitored value.
    pub value: f64,
    /// Its tie-breaking value, if the run has one.
    pub tie: Option<f64>,
}

impl FitState {
    /// The state before the first epoch.
    pub fn new(goal: Goal) -> Self {
        FitState {
            goal,
            epochs_done: 0,
            best: None,
            epochs_since_best: 0,
            epochs_since_decay: 0,
            lr_factor: 1.0,
            optimizer_step: 0,
            history: Vec::new(),
            setup: Value::Null,
            job: Value::Null,
        }
    }
}

/// True if `out` holds a checkpoint to resume from.
pub fn exists(out: &Path) -> bool {
    out.join(CHECKPOINT_DIR).join(STATE_FILE).is_file() || out.join(CHECKPOINT_DIRS[2]).join(STATE_FILE).is_file()
}

/// Writes the trainer's weights and optimiser, the best weights and `state` as
/// `out/checkpoint/`.
pub fn save<M: Trainable>(out: &Path, trainer: &Trainer<M>, best: Option<&M>, state: &FitState) -> Result<()> {
    std::fs::create_dir_all(out).map_err(NnError::io(out))?;
    save_with(out, |dir| {
        write_atomic(
            &dir.join(WEIGHTS_FILE),
            &tensors_to_bytes(trainer.model.named_params(), &[])?,
        )?;
        if let Some(best) = best {
            write_atomic(&dir.join(BEST_FILE), &tensors_to_bytes(best.named_params(), &[])?)?;
        }
        write_optimizer(dir, &trainer.optimizer)?;
        let mut state = state.clone();
        state.optimizer_step = trainer.optimizer.step;
        write_state(dir, &state)
    })
}

/// Restores the trainer's weights and optimiser from the checkpoint folder `dir` (see [`find`])
/// whose state is `state`; returns the best weights if there was a best epoch.
pub fn restore<M: Trainable>(dir: &Path, trainer: &mut Trainer<M>, state: &FitState) -> Result<Option<M>> {
    read_weights(&mut trainer.model, &dir.join(WEIGHTS_FILE))?;
    trainer.sync_replicas();
    let best = match state.best {
        Some(_) => {
            let mut best = trainer.model.clone();
            read_weights(&mut best, &dir.join(BEST_FILE))?;
            Some(best)
        }
        None => None,
    };
    read_optimizer(dir, &mut trainer.optimizer, state.optimizer_step)?;
    Ok(best)
}

/// Reads weights written by [`save`] into `model`, refusing tensors of other names or shapes
/// (a checkpoint of another model).
fn read_weights<M: Trainable>(model: &mut M, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(NnError::io(path))?;
    let names = model.named_params().into_iter().map(|(n, _)| n).collect();
    read_params(names, model.params_mut(), &bytes, &path.display().to_string())?;
    Ok(())
}

/// Writes a checkpoint of any trainer: `write` fills a fresh folder (`out/checkpoint.new/`,
/// created empty), which then replaces `out/checkpoint/` by renames, so a run killed at any
/// moment leaves one whole checkpoint. It must write a [`STATE_FILE`] (see [`write_state`]):
/// that is how [`exists`] and [`find`] know a checkpoint.
pub fn save_with(out: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let (dir, new, old) = paths(out);
    if new.exists() {
        std::fs::remove_dir_all(&new).map_err(NnError::io(&new))?;
    }
    std::fs::create_dir_all(&new).map_err(NnError::io(&new))?;
    write(&new)?;
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(NnError::io(&old))?;
        }
        std::fs::rename(&dir, &old).map_err(NnError::io(&dir))?;
    }
    std::fs::rename(&new, &dir).map_err(NnError::io(&new))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(NnError::io(&old))?;
    }
    Ok(())
}

/// The folder of the last whole checkpoint in `out` (a run killed between the two renames of
/// [`save_with`] leaves only the old one, which is complete), or an error saying there is none.
pub fn find(out: &Path) -> Result<PathBuf> {
    let (dir, _, old) = paths(out);
    let dir = if dir.join(STATE_FILE).is_file() { dir } else { old };
    if !dir.join(STATE_FILE).is_file() {
        return Err(NnError::Setting(format!(
            "nothing to resume: {} holds no checkpoint",
            out.display()
        )));
    }
    Ok(dir)
}

/// Writes `state` as the checkpoint folder's [`STATE_FILE`] (pretty JSON; floats read back
/// bit-exactly).
pub fn write_state<S: Serialize>(dir: &Path, state: &S) -> Result<()> {
    let json = serde_json::to_string_pretty(state).map_err(|e| NnError::Config(e.to_string()))?;
    write_atomic(&dir.join(STATE_FILE), json.as_bytes())
}

/// Reads the [`STATE_FILE`] of a checkpoint folder.
pub fn read_state<S: DeserializeOwned>(dir: &Path) -> Result<S> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(NnError::io(&path))?;
    serde_json::from_str(&text)
        .map_err(|e| NnError::Config(format!("{}: not a checkpoint state ({e})", path.display())))
}

/// Writes the optimiser's moments as the checkpoint folder's [`OPTIMIZER_FILE`] (its step
/// count belongs in the state).
pub fn write_optimizer(dir: &Path, opt: &Optimizer) -> Result<()> {
    write_atomic(&dir.join(OPTIMIZER_FILE), &optimizer_bytes(opt)?)
}

/// Restores the optimiser's moments from a checkpoint folder, and its step count.
pub fn read_optimizer(dir: &Path, opt: &mut Optimizer, step: u64) -> Result<()> {
    let path = dir.join(OPTIMIZER_FILE);
    let bytes = std::fs::read(&path).map_err(NnError::io(&path))?;
    restore_optimizer(opt, &bytes, step, &path)
}

fn paths(out: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        out.join(CHECKPOINT_DIR),
        out.join(CHECKPOINT_DIRS[1]),
        out.join(CHECKPOINT_DIRS[2]),
    )
}

fn optimizer_bytes(opt: &Optimizer) -> Result<Vec<u8>> {
    let mut buffers: Vec<(String, usize, Vec<u8>)> = Vec::new();
    for (kind, moments) in [("m", &opt.m), ("v", &opt.v)] {
        for (i, t) in moments.iter().enumerate() {
            buffers.push((
                format!("{kind}.{i}"),
                t.len(),
                t.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ));
        }
    }
    let views: Vec<(String, TensorView)> = buffers
        .iter()
        .map(|(n, len, b)| TensorView::new(Dtype::F32, vec![*len], b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| NnError::Config(format!("cannot serialise the optimiser: {e}")))?;
    safetensors::serialize(views, None).map_err(|e| NnError::Config(format!("cannot serialise the optimiser: {e}")))
}

fn restore_optimizer(opt: &mut Optimizer, bytes: &[u8], step: u64, path: &Path) -> Result<()> {
    let err = |message: String| NnError::Checkpoint {
        path: path.display().to_string(),
        message,
    };
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(format!("not a readable safetensors file ({e})")))?;
    let count = st.names().iter().filter(|n| n.starts_with("m.")).count();
    let read = |name: String| -> Result<Vec<f32>> {
        let view = st.tensor(&name).map_err(|_| err(format!("missing tensor `{name}`")))?;
        if view.dtype() != Dtype::F32 {
            return Err(err(format!("tensor `{name}` is {:?}, expected F32", view.dtype())));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    opt.m = (0..count).map(|i| read(format!("m.{i}"))).collect::<Result<_>>()?;
    opt.v = (0..count).map(|i| read(format!("v.{i}"))).collect::<Result<_>>()?;
    opt.step = step;
    Ok(())
}
