//! What a model was trained on, kept with it so that scoring it later is honest: the split's
//! percentages (in the config) and the `key_id`s of its training part (`training_keys.bin`).
//! With both, `recur eval` can tell which of the drawings it is given the model has seen, and
//! score only the held-out test part of the same split.

use crate::dataset::{key_hash, part_of, Part};
use recur_data::quickdraw::Drawing;
use recur_nn::model_dir::write_atomic;
use recur_nn::{ModelConfig, NnError, Result};
use recur_train::distributed::Collective;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// The metadata key under which the split is stored in the model config.
pub const SPLIT_KEY: &str = "sketch_split";

/// The file in a model directory listing the training part's `key_id`s (as hashes).
pub const TRAINING_KEYS_FILE: &str = "training_keys.bin";

/// First bytes of [`TRAINING_KEYS_FILE`], then one little-endian u64 hash per drawing.
const MAGIC: &[u8; 8] = b"RKEYS001";

/// Largest training-keys file read (128 M drawings): its size is checked before reading.
const MAX_KEYS_BYTES: u64 = 1 << 30;

/// The percentages of a `key_id` hash split (see [`part_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// Percent held out for validation.
    pub val_percent: u64,
    /// Percent held out for the final test.
    pub test_percent: u64,
}

impl SplitSpec {
    /// The part of the split a drawing falls in.
    pub fn part(&self, key_id: &str) -> Part {
        part_of(key_id, self.val_percent, self.test_percent)
    }
}

/// Stores the split in a model config.
pub fn label_split(mut config: ModelConfig, split: SplitSpec) -> Result<ModelConfig> {
    let value = serde_json::to_value(split).map_err(|e| NnError::Config(e.to_string()))?;
    config.metadata.insert(SPLIT_KEY.into(), value);
    Ok(config)
}

/// The split a model was trained with (`None` for models trained before it was recorded).
pub fn split_spec(config: &ModelConfig) -> Result<Option<SplitSpec>> {
    config
        .metadata
        .get(SPLIT_KEY)
        .map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|e| NnError::Config(format!("the model's `{SPLIT_KEY}` is unreadable: {e}")))
        })
        .transpose()
}

/// The `key_id`s a model was trained on, as hashes (64-bit: collisions among a few million
/// drawings are vanishingly unlikely).
#[derive(Clone, Debug, Default)]
pub struct TrainingKeys(HashSet<u64>);

impl TrainingKeys {
    /// The keys of `drawings`.
    pub fn of(drawings: &[Drawing]) -> Self {
        TrainingKeys(drawings.iter().map(|d| key_hash(&d.key_id)).collect())
    }

    /// The keys of every MPI rank's part together (each rank trained on drawings of its own).
    pub fn gathered(&self, group: &dyn Collective) -> Self {
        let mut mine: Vec<u64> = self.0.iter().copied().collect();
        mine.sort_unstable();
        TrainingKeys(group.gather_u64s(&mine).into_iter().collect())
    }

    /// Whether the model was trained on the drawing with this `key_id`.
    pub fn contains(&self, key_id: &str) -> bool {
        self.0.contains(&key_hash(key_id))
    }

    /// How many drawings the model was trained on.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes `dir/training_keys.bin` (sorted, so the same drawings give the same file).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut keys: Vec<u64> = self.0.iter().copied().collect();
        keys.sort_unstable();
        let mut bytes = Vec::with_capacity(MAGIC.len() + 8 * keys.len());
        bytes.extend_from_slice(MAGIC);
        keys.iter().for_each(|k| bytes.extend_from_slice(&k.to_le_bytes()));
        write_atomic(&dir.join(TRAINING_KEYS_FILE), &bytes)
    }

    /// Reads `dir/training_keys.bin`; `None` when the model has none (trained before they were
    /// recorded).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(TRAINING_KEYS_FILE);
        let bad = |message: String| NnError::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        let io = |source| NnError::Io {
            path: path.display().to_string(),
            error: source,
        };
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        if size > MAX_KEYS_BYTES {
            return Err(bad(format!("{size} bytes is more than the {MAX_KEYS_BYTES} allowed")));
        }
        let bytes = std::fs::read(&path).map_err(io)?;
        let Some(body) = bytes.strip_prefix(MAGIC) else {
            return Err(bad("not a list of training keys (wrong header)".into()));
        };
        if body.len() % 8 != 0 {
            return Err(bad(format!(
                "{} bytes after the header is not a whole number of keys",
                body.len()
            )));
        }
        let keys = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        Ok(Some(TrainingKeys(keys)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawing(key: &str) -> Drawing {
        Drawing {
            word: "cat".into(),
            key_id: key.into(),
            recognized: true,
            countrycode: "ZZ".into(),
            strokes: Vec::new(),
        }
    }

    #[test]
    fn training_keys_round_trip_and_refuse_bad_files() {
        let dir = std::env::temp_dir().join(format!("recur-training-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(TrainingKeys::read(&dir).unwrap().is_none());
        let keys = TrainingKeys::of(&[drawing("1"), drawing("22"), drawing("1")]);
        keys.write(&dir).unwrap();
        let back = TrainingKeys::read(&dir).unwrap().unwrap();
        assert_eq!(back.len(), 2);
        assert!(back.contains("22") && back.contains("1") && !back.contains("3"));
        std::fs::write(dir.join(TRAINING_KEYS_FILE), b"RKEYS001abc").unwrap();
        let e = TrainingKeys::read(&dir).unwrap_err().to_string();
        assert!(e.contains("whole number of keys"), "{e}");
        std::fs::write(dir.join(TRAINING_KEYS_FILE), b"nonsense").unwrap();
        assert!(TrainingKeys::read(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn split_spec_round_trips_through_the_config() {
        let config: ModelConfig =
            serde_json::from_str(r#"{"input_size": 3, "layers": [{"type": "dense", "units": 2}]}"#).unwrap();
        assert_eq!(split_spec(&config).unwrap(), None);
        let split = SplitSpec {
            val_percent: 5,
            test_percent: 20,
        };
        let config = label_split(config, split).unwrap();
        assert_eq!(split_spec(&config).unwrap(), Some(split));
    }
}
