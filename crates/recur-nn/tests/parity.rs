//! Parity with PyTorch on the same weights: each fixture under `tests/fixtures/` is a model
//! directory written by PyTorch (`tools/make_parity_fixtures.py`) plus its input, output,
//! input gradient and parameter gradients. recur must load the directory as it is and
//! reproduce all of them (float64, so the tolerance is tight). The `frames_*` fixtures are
//! frame CNNs (conv2d, pooling, batch norm over frames) feeding recurrent layers; `clips_c3d`
//! is a 3D CNN over clips of different lengths (conv3d, batch norm over clips as torch's
//! `BatchNorm3d`, max_pool3d, global_avg_pool3d).

use recur_core::{Rng, Seq};
use recur_nn::{model_dir, Ctx, Model};
mod common;

use common::{assert_close, tensor};
use safetensors::SafeTensors;
use std::path::Path;

fn check_fixture(dir: &Path) {
    let mut model: Model<f64> = model_dir::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let bytes = std::fs::read(dir.join("io.safetensors")).unwrap();
    let io = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, x) = tensor(&io, "x");
    let lengths = tensor(&io, "lengths").1.iter().map(|&l| l as usize).collect();
    // Frames `[batch, time, height, width, channels]` are each step's values, channels last.
    let features = shape[2..].iter().product();
    let x = Seq::new(x, shape[0], shape[1], features, lengths).unwrap();
    let mut rng = Rng::new(0);
    let (mut ys, tape) = model.forward(vec![x], &mut Ctx::new(true, &mut rng)).unwrap();
    let y = ys.remove(0);
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    assert_close(&format!("{name} output"), &y.data, &tensor(&io, "y").1);
    let dy = Seq {
        data: tensor(&io, "w").1,
        ..y
    };
    let dx = model.backward(tape, vec![dy], true).remove(0).expect("input gradient");
    assert_close(&format!("{name} input gradient"), &dx.data, &tensor(&io, "dx").1);
    for (pname, p) in model.named_params().into_iter().filter(|(_, p)| p.trainable) {
        assert_close(
            &format!("{name} gradient of {pname}"),
            &p.grad,
            &tensor(&io, &format!("grad.{pname}")).1,
        );
    }
}

#[test]
fn matches_pytorch_on_the_same_weights() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "expected the fixtures of every recurrent variant and the conv stack"
    );
    for dir in dirs {
        check_fixture(&dir);
    }
}
