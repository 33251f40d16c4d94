//! Model directories: `config.json` plus `model.safetensors`, whose tensors are named
//! `layers.{i}.{name}` with PyTorch's names and shapes, so `torch.nn` modules load them with
//! `load_state_dict` (and the other way round). Loading checks every name, dtype and shape and
//! says exactly what is wrong; writes go to temporary files renamed into place. The weights
//! carry the config they were saved with in their metadata, so a directory whose two files
//! come from different saves (a kill between the two renames) is refused, not half-loaded.

use crate::config::ModelConfig;
use crate::error::{NnError, Result};
use crate::layer::Param;
use crate::model::Model;
use recur_core::Float;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::Path;

/// The config file inside a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The weights file inside a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Sub-folder of a model directory holding the further members of an ensemble.
pub const MEMBERS_DIR: &str = "members";

/// Where ensemble member `k` lives: member 0 is the model directory itself (so a one-member
/// ensemble is a plain model, readable by PyTorch), member `k` is `members/k` inside it.
pub fn member_dir(model: &Path, k: usize) -> std::path::PathBuf {
    match k {
        0 => model.to_path_buf(),
        k => model.join(MEMBERS_DIR).join(k.to_string()),
    }
}

/// What [`write_atomic`] puts in place of a file's last extension, before its process id, while
/// it writes (`model.safetensors` is written as `model.tmp-1234`).
const TEMPORARY: &str = "tmp-";

/// Whether `name` is `file` or the temporary a [`write_atomic`] of `file` (by any process)
/// left behind when it was interrupted.
pub fn is_written_name(name: &str, file: &str) -> bool {
    let stem = Path::new(file).with_extension("");
    let Some(stem) = stem.to_str() else { return false };
    let temporary = name
        .strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_prefix(TEMPORARY))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
    name == file || temporary
}

/// Metadata key of the config the weights were saved with.
const CONFIG_METADATA: &str = "recur_config";

/// PyTorch stores BatchNorm's batch counter as an integer; everything else is float.
const INTEGER_BUFFER: &str = "num_batches_tracked";

/// Writes `bytes` to `path` via a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("{TEMPORARY}{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .map_err(NnError::io(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(NnError::io(path)));
    if written.is_err() {
        // Nothing half-written stays behind; the first error is the one to report.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Serialises the model's tensors as safetensors bytes (f32 for f32 models, f64 for f64).
pub fn weights_to_bytes<T: Float>(model: &Model<T>) -> Result<Vec<u8>> {
    let config = serde_json::to_string(model.config()).map_err(|e| NnError::Config(e.to_string()))?;
    tensors_to_bytes(model.named_params(), &[(CONFIG_METADATA, config)])
}

/// Serialises named tensors as safetensors bytes (f32 for f32 values, f64 for f64), with
/// `metadata` beside PyTorch's `format` key: what any model made of [`Param`]s saves.
pub fn tensors_to_bytes<T: Float>(named: Vec<(String, &Param<T>)>, metadata: &[(&str, String)]) -> Result<Vec<u8>> {
    let wide = std::mem::size_of::<T>() == 8;
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, p) in named {
        let (dtype, bytes) = if name.ends_with(INTEGER_BUFFER) {
            (
                Dtype::I64,
                p.value.iter().flat_map(|v| (v.to_f64() as i64).to_le_bytes()).collect(),
            )
        } else if wide {
            (
                Dtype::F64,
                p.value.iter().flat_map(|v| v.to_f64().to_le_bytes()).collect(),
            )
        } else {
            (
                Dtype::F32,
                p.value.iter().flat_map(|v| (v.to_f64() as f32).to_le_bytes()).collect(),
            )
        };
        buffers.push((name, dtype, p.shape.clone(), bytes));
    }
    let views: Vec<(String, TensorView)> = buffers
        .iter()
        .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| NnError::Config(format!("cannot serialise weights: {e}")))?;
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.extend(metadata.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| NnError::Config(format!("cannot serialise weights: {e}")))?;
    sort_header(&mut bytes);
    Ok(bytes)
}

/// Rewrites a safetensors header with its keys sorted. The crate writes the metadata map in
/// hash order, which changes from run to run: without this the same weights would give
/// different files. The sorted header has the same length (the same keys and values), so the
/// tensors' offsets stand; should it not, the bytes are left as they are.
fn sort_header(bytes: &mut [u8]) {
    let Some(len) = bytes.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes) else {
        return;
    };
    let Some(header) = usize::try_from(len).ok().and_then(|n| bytes.get(8..8 + n)) else {
        return;
    };
    // serde_json's maps are ordered by key.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return;
    };
    let Ok(text) = serde_json::to_string(&value) else {
        return;
    };
    let n = header.len();
    if text.len() <= n {
        bytes[8..8 + text.len()].copy_from_slice(text.as_bytes());
        // The header's own padding is spaces.
        bytes[8 + text.len()..8 + n].fill(b' ');
    }
}

/// Loads tensors from safetensors bytes into `model`, checking names, dtypes and shapes.
pub fn load_weights_from_bytes<T: Float>(model: &mut Model<T>, bytes: &[u8], path: &str) -> Result<()> {
    let err = |message: String| NnError::Checkpoint {
        path: path.to_string(),
        message,
    };
    let expected: Vec<(String, Vec<usize>)> = model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.shape.clone()))
        .collect();
    let (values, metadata) = read_tensors(&expected, bytes, path)?;
    // Names and shapes agree; an architecture that differs otherwise (an activation, a
    // padding, the wiring) says the two files come from different saves. Class names and
    // metadata may be edited by hand.
    let saved = metadata.get(CONFIG_METADATA);
    let architecture = |c: &ModelConfig| ModelConfig {
        classes: Vec::new(),
        metadata: serde_json::Map::new(),
        ..c.clone()
    };
    let same = |saved: &str| {
        serde_json::from_str::<ModelConfig>(saved).is_ok_and(|s| architecture(&s) == architecture(model.config()))
    };
    if saved.is_some_and(|s| !same(s)) {
        return Err(err(format!(
            "these weights were saved with another {CONFIG_FILE} than the one beside them \
             (an interrupted save, or files mixed from two models)"
        )));
    }
    for (p, v) in model.params_mut().into_iter().zip(values) {
        p.value = v.into_iter().map(T::from_f64).collect();
    }
    Ok(())
}

/// Reads safetensors bytes into `params`, named `names` (the same order), refusing tensors of
/// other names or shapes; returns the file's metadata. What any model made of [`Param`]s loads
/// its weights with.
pub fn read_params<T: Float>(
    names: Vec<String>,
    params: Vec<&mut Param<T>>,
    bytes: &[u8],
    path: &str,
) -> Result<HashMap<String, String>> {
    let expected: Vec<(String, Vec<usize>)> = names
        .into_iter()
        .zip(&params)
        .map(|(n, p)| (n, p.shape.clone()))
        .collect();
    let (values, metadata) = read_tensors(&expected, bytes, path)?;
    for (p, v) in params.into_iter().zip(values) {
        p.value = v.into_iter().map(T::from_f64).collect();
    }
    Ok(metadata)
}

/// Tensor values (in the order asked for) and a safetensors file's metadata.
pub type TensorsRead = (Vec<Vec<f64>>, HashMap<String, String>);

/// Reads the tensors `expected` (names and shapes, in order) from safetensors bytes, checking
/// that each is present with its shape, finite, and that nothing else is there; returns their
/// values in that order and the file's metadata. Every problem found is listed in one error.
pub fn read_tensors(expected: &[(String, Vec<usize>)], bytes: &[u8], path: &str) -> Result<TensorsRead> {
    let err = |message: String| NnError::Checkpoint {
        path: path.to_string(),
        message,
    };
    if let Some(name) = duplicate_tensor_name(bytes) {
        return Err(err(format!("tensor `{name}` is named twice in the header")));
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| err(format!("not a readable safetensors file ({e})")))?;
    let mut problems = Vec::new();
    let mut values = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        match st.tensor(name) {
            Err(_) => problems.push(format!("missing tensor `{name}` (shape {shape:?})")),
            Ok(view) if view.shape() != shape.as_slice() => problems.push(format!(
                "tensor `{name}` has shape {:?}, the config needs {shape:?}",
                view.shape()
            )),
            Ok(view) => match decode(&view) {
                Ok(v) => match v.iter().position(|x| !x.is_finite()) {
                    Some(i) => problems.push(format!("tensor `{name}` holds {} at index {i}", v[i])),
                    None => values.push(v),
                },
                Err(e) => problems.push(format!("tensor `{name}`: {e}")),
            },
        }
    }
    let known: std::collections::HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let mut extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !known.contains(*n))
        .map(str::to_string)
        .collect();
    extra.sort();
    problems.extend(
        extra
            .into_iter()
            .map(|n| format!("unexpected tensor `{n}` (not in the config)")),
    );
    if !problems.is_empty() {
        return Err(err(problems.join("; ")));
    }
    let metadata = SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, header)| header.metadata().clone())
        .unwrap_or_default();
    Ok((values, metadata))
}

/// The first tensor name that a safetensors header lists twice (the crate keeps the last
/// silently), or None; a header that does not parse is left to the crate to report.
fn duplicate_tensor_name(bytes: &[u8]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct FirstDuplicate;
    impl<'de> Visitor<'de> for FirstDuplicate {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a safetensors header")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) {
                    return Ok(Some(key));
                }
            }
            Ok(None)
        }
    }
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    serde_json::Deserializer::from_slice(header)
        .deserialize_map(FirstDuplicate)
        .ok()
        .flatten()
}

fn decode(view: &TensorView) -> std::result::Result<Vec<f64>, String> {
    let d = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Dtype::F64 => d
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        Dtype::I64 => d
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64)
            .collect(),
        other => return Err(format!("dtype {other:?} is not supported (use F32, F64 or I64)")),
    })
}

/// Saves `config.json` and `model.safetensors` into `dir` (created if needed).
pub fn save<T: Float>(model: &Model<T>, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(NnError::io(dir))?;
    let weights = weights_to_bytes(model)?;
    let config = serde_json::to_string_pretty(model.config()).map_err(|e| NnError::Config(e.to_string()))?;
    write_atomic(&dir.join(WEIGHTS_FILE), &weights)?;
    write_atomic(&dir.join(CONFIG_FILE), config.as_bytes())
}

/// Reads a model config file.
pub fn read_config(path: &Path) -> Result<ModelConfig> {
    let text = std::fs::read_to_string(path).map_err(NnError::io(path))?;
    ModelConfig::from_json(&text).map_err(|e| match e {
        NnError::Config(m) => NnError::Config(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Loads a model directory and, if it holds an ensemble, its other members (`members/1`, …,
/// see [`member_dir`]), in order; the members must know the same classes and carry the same
/// task metadata (how they read their input), or the ensemble is refused by name.
pub fn load_ensemble<T: Float>(dir: &Path) -> Result<Vec<Model<T>>> {
    let mut models: Vec<Model<T>> = vec![load(dir)?];
    for k in 1.. {
        let member = member_dir(dir, k);
        if !member.is_dir() {
            break;
        }
        let model: Model<T> = load(&member)?;
        let (first, this) = (models[0].config(), model.config());
        if first.classes != this.classes || first.metadata != this.metadata {
            return Err(NnError::Config(format!(
                "ensemble member {} differs from {} in its classes or input settings",
                member.display(),
                dir.display()
            )));
        }
        models.push(model);
    }
    Ok(models)
}

/// Loads a model directory.
pub fn load<T: Float>(dir: &Path) -> Result<Model<T>> {
    let config = read_config(&dir.join(CONFIG_FILE))?;
    let mut model = Model::for_loading(config)?;
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(NnError::io(&path))?;
    load_weights_from_bytes(&mut model, &bytes, &path.display().to_string())?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_dir_weights_bytes_do_not_depend_on_hash_order() {
        let p = Param::new("w", &[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]);
        let metadata = [
            ("b", "2".to_string()),
            ("a", "{\"x\": [1]}".to_string()),
            ("c", "3".to_string()),
        ];
        let first = tensors_to_bytes(vec![("w".into(), &p)], &metadata).unwrap();
        // Every serialisation draws a new hash order; the bytes must not follow it.
        for _ in 0..20 {
            assert_eq!(tensors_to_bytes(vec![("w".into(), &p)], &metadata).unwrap(), first);
        }
        let st = SafeTensors::deserialize(&first).unwrap();
        assert_eq!(st.tensor("w").unwrap().shape(), &[2, 2]);
    }
    use crate::config::LayerConfig;

    fn config() -> ModelConfig {
        ModelConfig::from_json(
            r#"{"input_size": 2, "layers": [{"type": "conv1d", "filters": 3, "kernel_size": 2, "padding": "causal"},
            {"type": "batch_norm"}, {"type": "gru", "units": 4, "bidirectional": true}, {"type": "dense", "units": 2}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_clear_mismatch_errors() {
        let dir = std::env::temp_dir().join(format!("recur-model-dir-{}", std::process::id()));
        let model = Model::<f32>::new(config(), 3).unwrap();
        save(&model, &dir).unwrap();
        let loaded = load::<f32>(&dir).unwrap();
        for ((a, pa), (b, pb)) in model.named_params().iter().zip(loaded.named_params()) {
            assert_eq!(a, &b);
            assert_eq!(pa.value, pb.value);
        }
        assert!(model
            .named_params()
            .iter()
            .any(|(n, _)| n == "layers.2.weight_hh_l0_reverse"));

        let bytes = std::fs::read(dir.join(WEIGHTS_FILE)).unwrap();
        let mut other = Model::<f32>::new(
            ModelConfig {
                input_size: 3,
                ..config()
            },
            0,
        )
        .unwrap();
        let e = load_weights_from_bytes(&mut other, &bytes, "w")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`layers.0.weight` has shape [3, 2, 2], the config needs [3, 3, 2]"),
            "{e}"
        );
        let e = load_weights_from_bytes(&mut other, &bytes[..bytes.len() / 2], "w")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable safetensors file"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn model_dir_refuses_non_finite_weights_duplicate_names_and_a_foreign_config() {
        let dir = std::env::temp_dir().join(format!("recur-model-dir-bad-{}", std::process::id()));
        let mut model = Model::<f32>::new(config(), 3).unwrap();
        model.params_mut()[0].value[1] = f32::NAN;
        save(&model, &dir).unwrap();
        let e = load::<f32>(&dir).err().unwrap().to_string();
        assert!(e.contains("tensor `layers.0.weight` holds NaN at index 1"), "{e}");

        // A config from another save beside these weights.
        let model = Model::<f32>::new(config(), 3).unwrap();
        save(&model, &dir).unwrap();
        let mut other = config();
        other.classes = vec!["a".into(), "b".into()];
        write_atomic(
            &dir.join(CONFIG_FILE),
            serde_json::to_string(&other).unwrap().as_bytes(),
        )
        .unwrap();
        assert!(load::<f32>(&dir).is_ok(), "class names may be edited by hand");
        let LayerConfig::Dense(crate::DenseConfig { activation, .. }) = &mut other.layers[3] else {
            panic!("the test config ends in a dense layer")
        };
        *activation = crate::Activation::Tanh;
        write_atomic(
            &dir.join(CONFIG_FILE),
            serde_json::to_string(&other).unwrap().as_bytes(),
        )
        .unwrap();
        let e = load::<f32>(&dir).err().unwrap().to_string();
        assert!(e.contains("saved with another config.json"), "{e}");
        assert!(std::fs::read_dir(&dir)
            .unwrap()
            .all(|f| !f.unwrap().file_name().to_string_lossy().contains(".tmp-")));

        // A header naming one tensor twice.
        let header = br#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 4]);
        assert_eq!(duplicate_tensor_name(&bytes).as_deref(), Some("a"));
        let mut model = Model::<f32>::new(config(), 3).unwrap();
        let e = load_weights_from_bytes(&mut model, &bytes, "w")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tensor `a` is named twice"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
