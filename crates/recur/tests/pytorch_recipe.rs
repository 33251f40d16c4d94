//! The README's PyTorch recipe, run as written: the Python block under "Checkpoints move to and
//! from PyTorch" loads a model directory recur wrote for the stack it describes, with
//! `load_state_dict(strict=True)`. It needs a Python with `torch` and `safetensors`
//! (`RECUR_PYTHON`, else `python3`) and skips, saying so, without them.

mod common;

use common::{recur, temp_dir};
use std::path::Path;
use std::process::Command;

/// The README's first ```python block after `heading`.
fn python_block_after(readme: &str, heading: &str) -> Option<String> {
    let section = &readme[readme.find(heading)?..];
    let start = section.find("```python\n")? + "```python\n".len();
    let end = section[start..].find("```")?;
    Some(section[start..start + end].to_string())
}

#[test]
fn readme_pytorch_recipe_loads_a_recur_model_strictly() {
    let python = std::env::var("RECUR_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_torch = Command::new(&python)
        .args(["-c", "import torch, safetensors.torch"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_torch {
        eprintln!("skipped: {python} cannot import torch and safetensors (set RECUR_PYTHON to one that can)");
        return;
    }
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let recipe = python_block_after(&readme, "### Checkpoints move to and from PyTorch").expect("the recipe's block");
    let d = temp_dir("pytorch-recipe");
    // The stack the README describes: conv1d (8 filters, kernel 3), batch_norm, a
    // bidirectional lstm (16), a gru (8) and a dense (4) on 3 features.
    let config = d.join("c.json");
    std::fs::write(
        &config,
        r#"{"input_size": 3, "layers": [
            {"type": "conv1d", "filters": 8, "kernel_size": 3, "padding": "same"},
            {"type": "batch_norm"},
            {"type": "lstm", "units": 16, "bidirectional": true, "return_sequences": true},
            {"type": "gru", "units": 8},
            {"type": "dense", "units": 4}]}"#,
    )
    .unwrap();
    let out = recur(&[
        "init",
        "--config",
        config.to_str().unwrap(),
        "--out",
        d.join("model").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&python)
        .arg("-c")
        .arg(&recipe)
        .current_dir(&*d)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the README's recipe failed:\n{recipe}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
