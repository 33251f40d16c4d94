//! Training across MPI ranks with a real `mpirun -np 2` on this machine: the same global batch
//! and seed give the same model on 1 process × 2 threads, 2 × 1 and 2 × 2; `--resume` under
//! mpirun continues exactly; `recur train` and `recur seq2seq train` run across ranks; ranks
//! that disagree, a rank killed mid-run and a missing MPI library end the job with an error,
//! never a hang.
//!
//! The tests need `mpirun` (Open MPI) and a build with the `mpi` feature
//! (`cargo test --release -p recur --features mpi mpi`); without either they say so and pass.

mod common;

use common::{recur, temp_dir};
use recur_core::Rng;
use recur_nn::model_dir;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}", stderr(&o));
    o
}

/// `mpirun` on the PATH, or `None` after saying why the test is skipped.
fn find_mpirun() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("mpirun"))
            .find(|f| f.is_file())
    });
    if found.is_none() {
        eprintln!("skipping: no mpirun on the PATH (apt-get install openmpi-bin libopenmpi-dev)");
    }
    found
}

/// `mpirun`, when this build has the `mpi` feature and mpirun is installed.
fn mpi_ready() -> Option<PathBuf> {
    if !cfg!(feature = "mpi") {
        eprintln!(
            "skipping: recur is built without the `mpi` feature (cargo test --release -p recur --features mpi mpi)"
        );
        return None;
    }
    find_mpirun()
}

/// `mpirun` running `apps` (each a rank count and the arguments of its ranks: the
/// recur binary's, or a shell command's with `sh -c`), with a time limit so nothing hangs.
fn mpirun(mpirun: &Path, apps: &[(usize, Vec<String>)]) -> Output {
    let mut cmd = Command::new(mpirun);
    // Root in containers; more ranks than cores on small machines; threads free to spread.
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["--timeout", "120", "--oversubscribe", "--bind-to", "none"]);
    for (i, (np, args)) in apps.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-np", &np.to_string()]).args(args);
    }
    cmd.output().expect("run mpirun")
}

/// The recur binary with `args`, as one mpirun app.
fn app(args: &[&str]) -> Vec<String> {
    std::iter::once(env!("CARGO_BIN_EXE_recur"))
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// 96 random walks [96, 12, 1] of 6–12 steps, labelled by whether they end above zero.
fn walks(dir: &Path) -> Vec<String> {
    walks_named(dir, "", 5)
}

/// [`walks`] from `seed`, in `x{tag}.npy`, `len{tag}.npy` and `y{tag}.npy`.
fn walks_named(dir: &Path, tag: &str, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let n = 96;
    let (mut x, mut lengths, mut y) = (vec![0f32; n * 12], Vec::new(), Vec::new());
    for i in 0..n {
        let len = 6 + rng.below(7);
        let mut v = 0.0;
        for t in 0..len {
            v += rng.normal() as f32;
            x[i * 12 + t] = v;
        }
        lengths.push(len as i64);
        y.push(i64::from(v > 0.0));
    }
    let write = |name: &str, descr: &str, shape: &[usize], body: Vec<u8>| {
        let path = dir.join(name.replace('.', &format!("{tag}.")));
        std::fs::write(&path, recur_data::npy::npy_bytes(descr, shape, &body)).unwrap();
        path.display().to_string()
    };
    let x = write(
        "x.npy",
        "<f4",
        &[n, 12, 1],
        x.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    let l = write(
        "len.npy",
        "<i8",
        &[n],
        lengths.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    let y = write("y.npy", "<i8", &[n], y.iter().flat_map(|v| v.to_le_bytes()).collect());
    ["--x", &x, "--lengths", &l, "--y", &y].map(String::from).to_vec()
}

/// `recur fit` arguments: the data, `out`, `threads`, a few epochs of batch 8.
fn fit_args(data: &[String], out: &Path, threads: usize, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["fit", "--out", s(out), "--threads", &threads.to_string()]
        .map(String::from)
        .to_vec();
    a.extend_from_slice(data);
    a.extend(extra.iter().map(|e| e.to_string()));
    // These tests are about the epoch loop: gradient training unless a test names a solver.
    if !extra.contains(&"--solver") {
        a.extend(["--solver", "gradient", "--batch-size", "8"].map(String::from));
    }
    a
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// Largest absolute difference between two saved models' tensors.
fn max_difference(a: &Path, b: &Path) -> f64 {
    let (a, b) = (model_dir::load::<f32>(a).unwrap(), model_dir::load::<f32>(b).unwrap());
    let (pa, pb) = (a.named_params(), b.named_params());
    assert_eq!(pa.len(), pb.len());
    pa.iter()
        .zip(&pb)
        .flat_map(|((_, x), (_, y))| x.value.iter().zip(&y.value).map(|(u, v)| f64::from((u - v).abs())))
        .fold(0.0, f64::max)
}

#[test]
fn mpi_fit_gives_the_model_of_one_process_with_as_many_threads() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-same");
    let data = walks(&d);
    // The ridge solver takes no epochs: a setting of gradient training is refused with it.
    let epochs = |extra: &[&str]| match extra.contains(&"ridge") {
        true => vec!["--quiet"],
        false => vec!["--epochs", "3", "--quiet"],
    };
    let alone = |name: &str, threads: usize, extra: &[&str]| {
        let out = d.join(name);
        ok(recur(&refs(&fit_args(
            &data,
            &out,
            threads,
            &[&epochs(extra)[..], extra].concat(),
        ))));
        out
    };
    let ranks = |name: &str, threads: usize, extra: &[&str]| {
        let out = d.join(name);
        let args = fit_args(&data, &out, threads, &[&epochs(extra)[..], extra].concat());
        ok(mpirun(&run, &[(2, app(&refs(&args)))]));
        out
    };
    // The default model has BatchNorm (batch statistics per shard) and bit-identical results
    // wherever the shards are the same: 1×2 as 2×1, 1×4 as 2×2.
    assert_eq!(max_difference(&alone("a12", 2, &[]), &ranks("r21", 1, &[])), 0.0);
    assert_eq!(max_difference(&alone("a14", 4, &[]), &ranks("r22", 2, &[])), 0.0);
    // Without batch statistics or dropout, 2×2 matches 1×2 up to the summation order.
    let gru = d.join("gru.json");
    std::fs::write(
        &gru,
        r#"{"layers": [{"type": "gru", "units": 8}, {"type": "dense", "units": 2}]}"#,
    )
    .unwrap();
    let gru_args = ["--config", s(&gru)];
    let diff = max_difference(&alone("g12", 2, &gru_args), &ranks("g22", 2, &gru_args));
    assert!(diff < 1e-5, "1×2 and 2×2 differ by {diff}");
    // The ridge solver under mpirun: every rank fits the whole set, rank 0 writes; the model
    // is one process's up to the summation order.
    let ridge = ["--solver", "ridge"];
    let diff = max_difference(&alone("k12", 2, &ridge), &ranks("k21", 1, &ridge));
    assert!(diff < 1e-4, "ridge 1×2 and 2×1 differ by {diff}");
}

#[test]
fn mpi_fit_resume_continues_exactly_and_rank_0_alone_reports() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-resume");
    let data = walks(&d);
    let (m, alone) = (d.join("m"), d.join("alone"));
    let first = mpirun(&run, &[(2, app(&refs(&fit_args(&data, &m, 1, &["--epochs", "2"]))))]);
    let log = stderr(&ok(first));
    assert_eq!(log.matches("epoch 1/2").count(), 1, "one rank reports: {log}");
    let out = String::from_utf8_lossy(
        &ok(mpirun(
            &run,
            &[(
                2,
                app(&refs(&fit_args(
                    &data,
                    &m,
                    1,
                    &["--epochs", "4", "--resume", "--quiet"],
                ))),
            )],
        ))
        .stdout,
    )
    .to_string();
    assert_eq!(out.matches("kept epoch").count(), 1, "one summary line: {out}");
    // The same two runs in one process with as many threads (the schedule spans the epochs
    // asked for, so a resumed run is compared with a resumed run).
    ok(recur(&refs(&fit_args(&data, &alone, 2, &["--epochs", "2", "--quiet"]))));
    ok(recur(&refs(&fit_args(
        &data,
        &alone,
        2,
        &["--epochs", "4", "--resume", "--quiet"],
    ))));
    assert_eq!(
        max_difference(&m, &alone),
        0.0,
        "resumed across ranks = resumed in one process"
    );
}

#[test]
fn mpi_train_sketch_classifier_across_two_ranks() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-sketch");
    let (data, m) = (d.join("data"), d.join("m"));
    ok(recur(&["data", "synth", "--out", s(&data), "--per-class", "12"]));
    let config = d.join("small.json");
    std::fs::write(
        &config,
        r#"{"input_size": 3, "layers": [{"type": "gru", "units": 8}, {"type": "dense", "units": 12}]}"#,
    )
    .unwrap();
    let o = ok(mpirun(
        &run,
        &[(
            2,
            app(&[
                "train",
                "--data",
                s(&data),
                "--out",
                s(&m),
                "--config",
                s(&config),
                "--epochs",
                "2",
                "--threads",
                "1",
                "--quiet",
            ]),
        )],
    ));
    assert!(m.join("model.safetensors").is_file() && m.join("report.md").is_file());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.matches("top-1").count(), 1, "rank 0 alone prints the scores: {out}");
}

#[test]
fn mpi_ranks_that_disagree_stop_before_training() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-disagree");
    let data = walks(&d);
    let m = d.join("m");
    let args = |lr: &str| app(&refs(&fit_args(&data, &m, 1, &["--epochs", "2", "--lr", lr])));
    let o = mpirun(&run, &[(1, args("0.01")), (1, args("0.02"))]);
    let e = stderr(&o);
    assert!(!o.status.success(), "ranks with different options must fail");
    assert!(
        e.contains("the ranks disagree on") && e.contains("rank 1 differs"),
        "{e}"
    );
    assert!(
        !e.contains("error on rank 1"),
        "rank 0 alone reports a shared error: {e}"
    );
    assert!(!m.join("model.safetensors").exists(), "nothing is trained");

    // A rank that cannot read its data says so, and the waiting rank 0 is ended with it.
    let mut missing = fit_args(&data, &m, 1, &["--epochs", "2"]);
    let x = missing.iter().position(|a| a == "--x").unwrap() + 1;
    missing[x] = d.join("absent.npy").display().to_string();
    let o = mpirun(&run, &[(1, args("0.01")), (1, app(&refs(&missing)))]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(e.contains("error on rank 1") && e.contains("absent.npy"), "{e}");
}

#[test]
fn mpi_a_rank_killed_mid_run_ends_the_job() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-kill");
    let data = walks(&d);
    let m = d.join("m");
    let fit = fit_args(&data, &m, 1, &["--epochs", "1000", "--quiet"]).join(" ");
    // Rank 1 is killed once rank 0 has written its first checkpoint.
    let script = format!(
        "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (n=0; while [ ! -d {0}/checkpoint ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done; kill -9 $$) & fi; exec {1} {fit}",
        s(&m),
        env!("CARGO_BIN_EXE_recur"),
    );
    let start = std::time::Instant::now();
    let o = mpirun(&run, &[(2, vec!["sh".into(), "-c".into(), script])]);
    assert!(!o.status.success(), "the job must fail");
    assert!(
        start.elapsed().as_secs() < 100,
        "the job ended on mpirun's time limit, not the kill"
    );
    assert!(stderr(&o).contains("rank 1"), "{}", stderr(&o));
    // What was written is whole: the last best model loads.
    model_dir::load::<f32>(&m).unwrap();
}

#[test]
fn mpi_library_missing_at_run_time_is_an_error() {
    if !cfg!(feature = "mpi") {
        eprintln!(
            "skipping: recur is built without the `mpi` feature (cargo test --release -p recur --features mpi mpi)"
        );
        return;
    }
    let d = temp_dir("mpi-nolib");
    // An unloadable libmpi stands in for a machine without Open MPI.
    std::fs::write(d.join("libmpi.so.40"), b"").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_recur"))
        .env("LD_LIBRARY_PATH", d.as_os_str())
        .arg("--help")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("libmpi"), "{}", stderr(&o));
}

#[test]
fn mpi_launch_of_a_build_without_the_feature_is_refused() {
    if cfg!(feature = "mpi") {
        return;
    }
    let Some(run) = find_mpirun() else { return };
    let d = temp_dir("mpi-nofeature");
    let data = walks(&d);
    let m = d.join("m");
    let o = mpirun(&run, &[(2, app(&refs(&fit_args(&data, &m, 1, &["--epochs", "1"]))))]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("built without MPI"), "{}", stderr(&o));
    assert!(!m.exists());
}

#[test]
fn mpi_commands_that_do_not_train_refuse_several_ranks() {
    let Some(run) = mpi_ready() else { return };
    let o = mpirun(&run, &[(2, app(&["bench", "--threads", "1", "--seconds", "0.1"]))]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("only with --scaling"), "{}", stderr(&o));
    let d = temp_dir("mpi-refuse");
    let o = mpirun(
        &run,
        &[(2, app(&["data", "synth", "--out", s(&d), "--per-class", "1"]))],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("run this command without mpirun"), "{}", stderr(&o));
}

/// `recur seq2seq train` arguments: generated dates, a small model, `threads`, two epochs.
fn seq2seq_args(out: &Path, threads: usize) -> Vec<String> {
    [
        "seq2seq",
        "train",
        "--dates",
        "400",
        "--out",
        s(out),
        "--epochs",
        "2",
        "--batch",
        "32",
        "--embedding",
        "8",
        "--encoder-units",
        "12",
        "--encoder-layers",
        "1",
        "--decoder-units",
        "16",
        "--dropout",
        "0.1",
        "--threads",
        &threads.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn mpi_seq2seq_train_gives_the_model_of_one_process_with_as_many_threads() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-seq2seq");
    let (alone, ranks) = (d.join("alone"), d.join("ranks"));
    ok(recur(&refs(&seq2seq_args(&alone, 2))));
    let o = ok(mpirun(&run, &[(2, app(&refs(&seq2seq_args(&ranks, 1))))]));
    let log = stderr(&o);
    assert_eq!(log.matches("epoch  1/2").count(), 1, "rank 0 alone reports: {log}");
    assert!(log.contains("on each of 2 ranks"), "{log}");
    // Same shards, dropout streams and sums: the same bits, and the same validation scores.
    let tensors = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(
        tensors(&alone) == tensors(&ranks),
        "the weights differ between 1×2 and 2×1"
    );
    let scores = |dir: &Path| std::fs::read_to_string(dir.join("validation.json")).unwrap();
    assert_eq!(scores(&alone), scores(&ranks));
    // Shard gradients are added pairwise, as an all-reduce of two ranks' pairs adds them.
    let (alone4, ranks22) = (d.join("alone4"), d.join("ranks22"));
    ok(recur(&refs(&seq2seq_args(&alone4, 4))));
    ok(mpirun(&run, &[(2, app(&refs(&seq2seq_args(&ranks22, 2))))]));
    assert!(
        tensors(&alone4) == tensors(&ranks22),
        "the weights differ between 1×4 and 2×2"
    );
    // Ranks that disagree stop before training, and rank 0 alone says so.
    let bad = d.join("bad");
    let mut other = seq2seq_args(&bad, 1);
    other[3] = "401".into();
    let o = mpirun(
        &run,
        &[(1, app(&refs(&seq2seq_args(&bad, 1)))), (1, app(&refs(&other)))],
    );
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("the ranks disagree on") && e.contains("rank 1 differs"),
        "{e}"
    );
    assert!(!bad.join("model.safetensors").exists(), "nothing is written");
}

/// A seq2seq run of 2 ranks × 1 thread, stopped after its first epoch and resumed under
/// mpirun, ends with the model of one process × 2 threads trained straight (every rank reads
/// the checkpoint, rank 0 alone reports); ranks that read different checkpoints are stopped.
#[test]
fn mpi_seq2seq_resume_continues_exactly() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-seq2seq-resume");
    let (alone, ranks) = (d.join("alone"), d.join("ranks"));
    ok(recur(&refs(&seq2seq_args(&alone, 2))));
    let mut first = seq2seq_args(&ranks, 1);
    first[7] = "1".into();
    ok(mpirun(&run, &[(2, app(&refs(&first)))]));
    let mut resume = seq2seq_args(&ranks, 1);
    resume.push("--resume".into());
    let o = ok(mpirun(&run, &[(2, app(&refs(&resume)))]));
    let log = stderr(&o);
    assert_eq!(
        log.matches("resuming after epoch 1").count(),
        1,
        "rank 0 alone reports: {log}"
    );
    assert_eq!(log.matches("epoch  2/2").count(), 1, "{log}");
    let tensors = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(
        tensors(&alone) == tensors(&ranks),
        "resumed 2×1 differs from 1×2 straight"
    );
    let scores = |dir: &Path| std::fs::read_to_string(dir.join("validation.json")).unwrap();
    assert_eq!(scores(&alone), scores(&ranks));
    // Ranks that read different checkpoints (here one of 1 epoch, one of 2, both made by
    // 2 ranks) stop before training.
    let other = d.join("other");
    let mut once = seq2seq_args(&other, 1);
    once[7] = "1".into();
    ok(mpirun(&run, &[(2, app(&refs(&once)))]));
    let more = |out: &Path| {
        let mut a = seq2seq_args(out, 1);
        a[7] = "3".into();
        a.push("--resume".into());
        a
    };
    let o = mpirun(&run, &[(1, app(&refs(&more(&ranks)))), (1, app(&refs(&more(&other))))]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert!(
        e.contains("the ranks disagree on the model, training settings, data and checkpoint"),
        "{e}"
    );
    assert_eq!(history_len(&ranks), 2, "nothing was trained");
}

/// Epochs in a seq2seq model folder's history.
fn history_len(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("history.json")).unwrap();
    serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap().len()
}

#[test]
fn mpi_fit_ranks_read_their_own_files() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-own");
    let val = walks(&d);
    walks_named(&d, "-0", 6);
    walks_named(&d, "-1", 7);
    let part = |name: &str| d.join(format!("{name}-{{rank}}.npy")).display().to_string();
    let own: Vec<String> = ["--x", &part("x"), "--lengths", &part("len"), "--y", &part("y")]
        .map(String::from)
        .to_vec();
    let val_args: Vec<&str> = ["--val-x", &val[1], "--val-lengths", &val[3], "--val-y", &val[5]].to_vec();
    let m = d.join("m");
    let o = ok(mpirun(
        &run,
        &[(
            2,
            app(&refs(&fit_args(
                &own,
                &m,
                1,
                &[&["--epochs", "3"], &val_args[..]].concat(),
            ))),
        )],
    ));
    let log = stderr(&o);
    assert_eq!(log.matches("epoch 1/3").count(), 1, "rank 0 alone reports: {log}");
    assert!(m.join("model.safetensors").is_file());
    // The same parts, seed and layout give the same model again.
    let again = d.join("again");
    ok(mpirun(
        &run,
        &[(
            2,
            app(&refs(&fit_args(
                &own,
                &again,
                1,
                &[&["--epochs", "3", "--quiet"], &val_args[..]].concat(),
            ))),
        )],
    ));
    assert_eq!(max_difference(&m, &again), 0.0);

    // Validation is scored alike on every rank only if every rank reads it whole.
    let o = mpirun(
        &run,
        &[(2, app(&refs(&fit_args(&own, &d.join("m2"), 1, &["--epochs", "1"]))))],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("give the validation sequences whole"),
        "{}",
        stderr(&o)
    );

    // A rank whose own file is missing says so, and the job ends.
    std::fs::remove_file(d.join("x-1.npy")).unwrap();
    let o = mpirun(
        &run,
        &[(
            2,
            app(&refs(&fit_args(
                &own,
                &d.join("m3"),
                1,
                &[&["--epochs", "1"], &val_args[..]].concat(),
            ))),
        )],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("error on rank 1") && e.contains("x-1.npy"), "{e}");
}

#[test]
fn mpi_train_ranks_read_their_own_drawings() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-sketch-own");
    for (k, seed) in [(0, "1"), (1, "2")] {
        let part = d.join(format!("part-{k}"));
        ok(recur(&[
            "data",
            "synth",
            "--out",
            s(&part),
            "--per-class",
            "10",
            "--seed",
            seed,
        ]));
    }
    let config = d.join("small.json");
    std::fs::write(
        &config,
        r#"{"input_size": 3, "layers": [{"type": "gru", "units": 8}, {"type": "dense", "units": 12}]}"#,
    )
    .unwrap();
    let args = |data: &[&str], out: &Path| -> Vec<String> {
        let mut a = vec!["train", "--data"];
        a.extend(data);
        a.extend(["--out", s(out), "--config", s(&config), "--epochs", "2"]);
        a.extend(["--threads", "1", "--normalization", "std"]);
        app(&a)
    };
    let own = d.join("part-{rank}").display().to_string();
    let m = d.join("m");
    let o = ok(mpirun(&run, &[(2, args(&[&own], &m))]));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(out.matches("top-1").count(), 1, "rank 0 alone prints the scores: {out}");
    assert_eq!(stderr(&o).matches("epoch 1/2").count(), 1, "{}", stderr(&o));
    // One process on both parts: the same split, so the same training keys and the same
    // number of test drawings scored (each rank scores its own, the counts are added).
    let whole = d.join("whole");
    let parts = [d.join("part-0"), d.join("part-1")];
    let single = ok(Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args(&[s(&parts[0]), s(&parts[1])], &whole).iter().skip(1))
        .output()
        .unwrap());
    let scored = |text: &str| {
        text.lines()
            .find(|l| l.contains("drawings (test)"))
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
    };
    let single_out = String::from_utf8_lossy(&single.stdout).to_string();
    assert!(scored(&out).is_some(), "{out}");
    assert_eq!(scored(&out), scored(&single_out), "{out}\n{single_out}");
    let keys = |dir: &Path| std::fs::read(dir.join("training_keys.bin")).unwrap();
    assert_eq!(
        keys(&m),
        keys(&whole),
        "the model records every part's training drawings"
    );
    // Rank 1 killed once the first checkpoint is written, then resumed: the model of a run
    // never stopped (the schedule spans the epochs asked for, so both ask for 30).
    let long = |out: &Path| {
        let mut a = args(&[&own], out);
        let at = a.iter().position(|x| x == "--epochs").unwrap();
        a[at + 1] = "30".into();
        a
    };
    let (straight, killed) = (d.join("straight"), d.join("killed"));
    ok(mpirun(&run, &[(2, long(&straight))]));
    let script = format!(
        "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (n=0; while [ ! -d {0}/checkpoint ] && [ $n -lt 12000 ]; do sleep 0.01; n=$((n+1)); done; kill -9 $$) & fi; exec {1}",
        s(&killed),
        long(&killed).join(" ")
    );
    let o = mpirun(&run, &[(2, vec!["sh".into(), "-c".into(), script])]);
    assert!(!o.status.success(), "the kill came after the last epoch");
    let mut rest = long(&killed);
    rest.push("--resume".into());
    ok(mpirun(&run, &[(2, rest)]));
    let tensors = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(
        tensors(&straight) == tensors(&killed),
        "parts resumed = parts never stopped"
    );

    // Every part must hold every class.
    let cat = std::fs::read_dir(&parts[1])
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .unwrap();
    std::fs::remove_file(&cat).unwrap();
    let o = mpirun(&run, &[(2, args(&[&own], &d.join("m2")))]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("the ranks disagree on the classes"),
        "{}",
        stderr(&o)
    );
    // A rank without its part says so, and the job ends.
    std::fs::remove_dir_all(&parts[1]).unwrap();
    let o = mpirun(&run, &[(2, args(&[&own], &d.join("m3")))]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("error on rank 1") && e.contains("part-1"), "{e}");
}

/// `n` pairs of random words over `letters` and their reversals, as tsv.
fn reversal_pairs(path: &Path, letters: &[u8], n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let text: String = (0..n)
        .map(|_| {
            let len = 3 + rng.below(4);
            let word: String = (0..len).map(|_| letters[rng.below(letters.len())] as char).collect();
            format!("{word}\t{}\n", word.chars().rev().collect::<String>())
        })
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn mpi_seq2seq_ranks_read_their_own_pairs() {
    let Some(run) = mpi_ready() else { return };
    let d = temp_dir("mpi-seq2seq-own");
    // Letters a–m in rank 0's part, n–z in rank 1's: the vocabularies must hold both.
    reversal_pairs(&d.join("part-0.tsv"), b"abcdefghijklm", 300, 1);
    reversal_pairs(&d.join("part-1.tsv"), b"nopqrstuvwxyz", 200, 2);
    let args = |out: &Path| -> Vec<String> {
        let mut a = seq2seq_args(out, 1);
        // `--dates 400` gives way to the parts.
        a.splice(
            2..4,
            ["--pairs".to_string(), d.join("part-{rank}.tsv").display().to_string()],
        );
        a
    };
    let (m, again) = (d.join("m"), d.join("again"));
    let o = ok(mpirun(&run, &[(2, app(&refs(&args(&m))))]));
    let log = stderr(&o);
    assert_eq!(log.matches("epoch  1/2").count(), 1, "rank 0 alone reports: {log}");
    assert!(log.contains("in all the parts"), "{log}");
    let vocab = std::fs::read_to_string(m.join("source_vocab.json")).unwrap();
    assert!(vocab.contains("\"a\"") && vocab.contains("\"z\""), "{vocab}");
    // The same parts, seed and layout give the same model again.
    ok(mpirun(&run, &[(2, app(&refs(&args(&again))))]));
    let tensors = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(tensors(&m) == tensors(&again));
    // One epoch, then resumed to two: the model of the two straight.
    let resumed = d.join("resumed");
    let mut first = args(&resumed);
    let at = first.iter().position(|a| a == "--epochs").unwrap();
    first[at + 1] = "1".into();
    ok(mpirun(&run, &[(2, app(&refs(&first)))]));
    let mut rest = args(&resumed);
    rest.push("--resume".into());
    ok(mpirun(&run, &[(2, app(&refs(&rest)))]));
    assert!(tensors(&m) == tensors(&resumed), "parts resumed = parts straight");
    // A rank without its part says so, and the job ends.
    std::fs::remove_file(d.join("part-1.tsv")).unwrap();
    let o = mpirun(&run, &[(2, app(&refs(&args(&d.join("m2")))))]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("error on rank 1") && e.contains("part-1.tsv"), "{e}");
}
