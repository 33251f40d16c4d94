"""Seq2Seq: `recur seq2seq train|predict` as an estimator, on a tiny generated task (reversing
short letter strings). A model it saved answers the same through `recur seq2seq predict`, a
model the command line trained answers the same through recur.load, and both front ends
train the same model from the same pairs and settings."""

import json
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

import recur

# Small and quick (a few seconds): one narrow encoder layer, 8 epochs at a high learning rate.
QUICK = dict(
    embedding=16, encoder_units=24, encoder_layers=1, decoder_units=32, batch=32, epochs=8, lr=0.005, patience=8,
    threads=2, seed=3,
)


def reversals(n, seed=0):
    """`n` strings of 2–5 letters from a–f and their reversals."""
    rng = np.random.default_rng(seed)
    sources = ["".join(rng.choice(list("abcdef"), size=rng.integers(2, 6))) for _ in range(n)]
    return sources, [s[::-1] for s in sources]


def cli_flags(settings):
    return [a for name, value in settings.items() for a in (f"--{name.replace('_', '-')}", str(value))]


def run_cli(cli, *args):
    done = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_predict(cli, model, sources, tmp_path, *extra):
    """`recur seq2seq predict` on `sources`: its stdout's lines."""
    path = tmp_path / "sources.txt"
    path.write_text("".join(s + "\n" for s in sources), encoding="utf-8")
    return run_cli(cli, "seq2seq", "predict", "--model", model, "--input", path, *extra).splitlines()


@pytest.fixture(scope="module")
def task():
    train = reversals(1500, seed=1)
    test = reversals(40, seed=2)[0]
    return train, test


@pytest.fixture(scope="module")
def fitted(task):
    (sources, targets), _ = task
    return recur.Seq2Seq(**QUICK).fit(sources, targets)


def test_seq2seq_saved_by_the_estimator_predicts_as_recur_seq2seq_predict(fitted, task, recur_cli, tmp_path):
    test = task[1]
    saved = fitted.save(tmp_path / "model")
    ours = fitted.predict(test)
    assert len(ours) == len(test) and all(isinstance(o, str) for o in ours)
    assert cli_predict(recur_cli, saved, test, tmp_path) == [f"{s}\t{o}" for s, o in zip(test, ours)]
    # The n-best lists and their scores too (the command line's --json).
    nbest = fitted.predict(test, beam=4, nbest=3)
    lines = cli_predict(recur_cli, saved, test, tmp_path, "--beam", "4", "--nbest", "3", "--json")
    cli = [[(o["text"], o["score"]) for o in json.loads(line)["outputs"]] for line in lines]
    assert [[t for t, _ in hyps] for hyps in nbest] == [[t for t, _ in hyps] for hyps in cli]
    np.testing.assert_allclose([s for h in nbest for _, s in h], [s for h in cli for _, s in h], rtol=1e-12)


def test_seq2seq_trained_by_recur_seq2seq_train_answers_the_same_through_recur_load(fitted, task, recur_cli, tmp_path):
    (sources, targets), test = task
    pairs = tmp_path / "train.tsv"
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in zip(sources, targets)), encoding="utf-8")
    model = tmp_path / "cli_model"
    run_cli(recur_cli, "seq2seq", "train", "--pairs", pairs, "--out", model, *cli_flags(QUICK))
    loaded = recur.load(model)
    assert isinstance(loaded, recur.Seq2Seq)
    assert (loaded.embedding, loaded.cell, loaded.encoder_layers, loaded.unidirectional) == (16, "lstm", 1, False)
    answers = loaded.predict(test)
    assert cli_predict(recur_cli, model, test, tmp_path) == [f"{s}\t{o}" for s, o in zip(test, answers)]
    # Same pairs, same settings: the command line and the estimator trained the same model.
    assert (model / "model.safetensors").read_bytes() == (Path(fitted.model_dir_) / "model.safetensors").read_bytes()
    assert answers == fitted.predict(test)


def test_seq2seq_nbest_gives_ranked_text_and_score_pairs(fitted, task):
    nbest = fitted.predict(task[1][:5], beam=5, nbest=3)
    assert len(nbest) == 5
    for hyps in nbest:
        assert len(hyps) == 3
        assert all(isinstance(t, str) and isinstance(s, float) for t, s in hyps)
        assert [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)
    # The best of each n-best list is what nbest=1 gives.
    assert [h[0][0] for h in nbest] == fitted.predict(task[1][:5], beam=5)


def test_seq2seq_scores_sequence_accuracy(fitted, task):
    (sources, targets), test = task
    # It learned the task: strings it never saw come out reversed.
    assert fitted.score(test, [s[::-1] for s in test]) > 0.9
    predicted = fitted.predict(sources[:50])
    expected = np.mean([p == t for p, t in zip(predicted, targets[:50])])
    assert fitted.score(sources[:50], targets[:50]) == pytest.approx(expected)
    assert fitted.score(np.array(sources[:5]), [p for p in predicted[:5]]) == 1.0


def test_seq2seq_clones_pickles_and_sets_params(fitted, task):
    from sklearn.base import clone

    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "translator_")
    copy.set_params(epochs=1, cell="gru")
    assert (copy.epochs, copy.cell, fitted.epochs) == (1, "gru", 8)
    again = pickle.loads(pickle.dumps(fitted))
    assert again.predict(task[1][:10]) == fitted.predict(task[1][:10])


def test_seq2seq_reports_progress_per_epoch(task):
    (sources, targets), _ = task
    events = []
    recur.Seq2Seq(**{**QUICK, "epochs": 1}, progress=events.append).fit(sources[:100], targets[:100])
    ended = [e for e in events if e["event"] == "epoch_ended"]
    assert [e["epoch"] for e in ended] == [1] and ended[0]["metrics"], ended


@pytest.mark.parametrize(
    "sources, targets, error, message",
    [
        ("abc", ["cba"], TypeError, "sources must be a list of strings, not one str"),
        (["ab", 3], ["ba", "3"], TypeError, "sources[1] is int, not str"),
        (["ab"], [b"ba"], TypeError, "targets[0] is bytes, not str"),
        ([], [], ValueError, "fit: no sources given"),
        (["ab", "cd"], ["ba"], ValueError, "fit: 2 sources but 1 targets"),
        (["ab", "  "], ["ba", "x"], ValueError, "pairs:2: the source is empty"),
    ],
)
def test_seq2seq_refuses_bad_pairs_with_recur_message(sources, targets, error, message):
    with pytest.raises(error, match=_literal(message)):
        recur.Seq2Seq(**QUICK).fit(sources, targets)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(val_split=0.0), "val_split must be in (0, 1)"),
        (dict(cell="rnn"), "unknown variant `rnn`"),
        (dict(attention="luong"), "unknown attention `luong`"),
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(epoch=3), None),
    ],
)
def test_seq2seq_refuses_bad_settings_with_recur_message(settings, message):
    if message is None:  # not a parameter at all: scikit-learn's own refusal
        with pytest.raises(TypeError):
            recur.Seq2Seq(**settings)
        return
    with pytest.raises(ValueError, match=_literal(message)):
        recur.Seq2Seq(**{**QUICK, **settings}).fit(["ab", "cd"], ["ba", "dc"])


def test_seq2seq_refuses_unseen_characters_when_strict_and_an_unfitted_predict(fitted):
    strict = pickle.loads(pickle.dumps(fitted)).set_params(strict=True)
    with pytest.raises(ValueError, match=_literal("sources[1]: tokens never seen in training: z")):
        strict.predict(["abc", "abz"])
    with pytest.warns(UserWarning, match="never seen in training"):
        fitted.predict(["abz"])
    with pytest.raises(ValueError, match="beam must be in 1..=100"):
        fitted.predict(["abc"], beam=0)
    with pytest.raises(ValueError, match="not fitted"):
        recur.Seq2Seq().predict(["abc"])


def _literal(text):
    import re

    return re.escape(text)
