"""The package and the command line share model directories: a model `recur fit` wrote
answers the same through recur.load, and a model the package saved answers the same through
`recur run`; both front ends train the same model from the same data."""

import subprocess

import numpy as np

import recur


def run_cli(cli, *args):
    done = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_probabilities(cli, model, ts_file, tmp_path):
    out = tmp_path / "p.npy"
    run_cli(cli, "run", "--model", model, "--input", ts_file, "--output", out)
    return np.load(out)


def test_a_model_recur_fit_wrote_answers_the_same_through_recur_load(vowels, vowels_files, recur_cli, tmp_path):
    train, test = vowels_files
    model = tmp_path / "cli_model"
    run_cli(recur_cli, "fit", "--train", train, "--out", model, "--quiet")
    loaded = recur.load(model)
    assert isinstance(loaded, recur.SequenceClassifier)
    Xt, yt = vowels[2], vowels[3]
    np.testing.assert_array_equal(loaded.predict_proba(Xt), cli_probabilities(recur_cli, model, test, tmp_path))
    labels = run_cli(recur_cli, "run", "--model", model, "--input", test, "--output", tmp_path / "q.npy", "--labels")
    assert loaded.predict(Xt).tolist() == labels.split()
    accuracy = float(run_cli(recur_cli, "eval", "--model", model, "--test", test).split("accuracy ")[1].split()[0])
    assert abs(loaded.score(Xt, yt) - accuracy) < 1e-4


def test_a_saved_estimator_answers_the_same_through_recur_run(vowels, vowels_files, recur_cli, tmp_path):
    X, y, Xt, _ = vowels
    clf = recur.SequenceClassifier().fit(X, y)
    saved = clf.save(tmp_path / "py_model")
    assert sorted(p.name for p in (tmp_path / "py_model").iterdir()) == ["config.json", "history.json", "model.safetensors"]
    np.testing.assert_array_equal(clf.predict_proba(Xt), cli_probabilities(recur_cli, saved, vowels_files[1], tmp_path))


def test_both_front_ends_train_the_same_model(vowels, vowels_files, recur_cli, tmp_path):
    X, y, Xt, _ = vowels
    model = tmp_path / "cli_model"
    run_cli(recur_cli, "fit", "--train", vowels_files[0], "--out", model, "--quiet", "--seed", 3)
    clf = recur.SequenceClassifier(seed=3).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(Xt), recur.load(model).predict_proba(Xt), atol=1e-6)


def test_allow_nan_trains_the_model_recur_fit_trains_on_arrays_with_nan(recur_cli, tmp_path):
    from conftest import trends

    X, labels, _ = trends(40)
    X[2, 5, 0] = X[7, 0, 1] = np.nan
    codes = (labels == "up").astype(np.int64)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", codes)
    model = tmp_path / "cli_model"
    run_cli(recur_cli, "fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--out", model, "--quiet")
    clf = recur.SequenceClassifier(allow_nan=True).fit(X, codes)
    np.testing.assert_allclose(clf.predict_proba(X), recur.load(model).set_params(allow_nan=True).predict_proba(X), atol=1e-6)
