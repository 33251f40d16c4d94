"""Bad input raises TypeError/ValueError/OSError with recur's message, never a crash."""

import json

import numpy as np
import pytest

import recur
from conftest import trends


def fitted():
    X, labels, _ = trends(20)
    return recur.SequenceClassifier().fit(X, labels), X, labels


def test_x_of_strings_is_a_type_error():
    with pytest.raises(TypeError, match="X must hold numbers"):
        recur.SequenceClassifier().fit(np.array([["a", "b"], ["c", "d"]]), [0, 1])


def test_a_ragged_sequence_is_a_value_error():
    X = [np.zeros((5, 2)), [[1.0, 2.0], [3.0]]]
    with pytest.raises(ValueError, match=r"X\[1\] is ragged"):
        recur.SequenceClassifier().fit(X, [0, 1])


def test_sequences_of_different_channels_are_refused():
    with pytest.raises(ValueError, match="different numbers of channels"):
        recur.SequenceClassifier().fit([np.zeros((5, 2)), np.zeros((4, 3))], [0, 1])


def test_an_infinite_value_is_refused_naming_its_place():
    X, labels, _ = trends(20)
    X[3, 4, 1] = np.inf
    with pytest.raises(ValueError, match=r"X\[3, 4, 1\] is inf: X must hold finite numbers"):
        recur.SequenceClassifier().fit(X, labels)
    # Missing values allowed or not, infinity is refused (by recur's own check too).
    with pytest.raises(ValueError, match=r"X\[3, 4, 1\] is inf"):
        recur.SequenceClassifier(allow_nan=True).fit(X, labels)


def test_nan_in_x_is_a_value_error_naming_its_place_and_the_list_form():
    X, labels, _ = trends(20)
    X[2, 5, 0] = np.nan
    with pytest.raises(ValueError, match=r"X\[2, 5, 0\] is NaN. Sequences of different lengths go in as a list"):
        recur.SequenceClassifier().fit(X, labels)
    with pytest.raises(ValueError, match=r"X\[2\]\[5, 0\] is NaN"):
        recur.SequenceRegressor().fit(list(X), np.arange(20.0))
    clf = recur.SequenceClassifier().fit(trends(20)[0], labels)
    with pytest.raises(ValueError, match=r"X\[2, 5, 0\] is NaN"):
        clf.predict(X)


def test_allow_nan_takes_nan_as_a_missing_value_as_recur_fit_does():
    X, labels, _ = trends(40)
    X[2, 5, 0] = np.nan
    clf = recur.SequenceClassifier(allow_nan=True).fit(X, labels)
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and clf.score(X, labels) > 0.9


def test_labels_of_mixed_types_are_a_type_error():
    X, _, _ = trends(4)
    with pytest.raises(TypeError, match="mixes labels of different types"):
        recur.SequenceClassifier().fit(X, np.array([1, "a", 2, "b"], dtype=object))


def test_labels_of_mixed_types_in_a_list_are_a_type_error():
    # numpy made ["a", 1] two strings before the labels' types were looked at.
    X, _, _ = trends(4)
    with pytest.raises(TypeError, match="mixes labels of different types"):
        recur.SequenceClassifier().fit(X, [1, "a", 2, "b"])


def test_a_nan_label_is_refused():
    X, _, _ = trends(4)
    with pytest.raises(ValueError, match=r"y\[2\] is NaN"):
        recur.SequenceClassifier().fit(X, [1.0, 2.0, np.nan, 1.0])


def test_one_class_is_refused_with_recur_message():
    X, _, _ = trends(6)
    with pytest.raises(ValueError, match="a classifier needs at least two classes"):
        recur.SequenceClassifier().fit(X, ["a"] * 6)


def test_wrong_channels_at_prediction_name_both_counts():
    clf, _, _ = fitted()
    with pytest.raises(ValueError, match="trained on 2 channels per step, the input has 3"):
        clf.predict(np.zeros((2, 30, 3), np.float32))


def test_a_bad_setting_and_a_bad_config_are_value_errors():
    X, labels, _ = trends(10)
    with pytest.raises(ValueError, match="unknown variant `nope`"):
        recur.SequenceClassifier(training={"optimizer": "nope"}).fit(X, labels)
    with pytest.raises(ValueError, match="model config"):
        recur.SequenceClassifier({"layers": [{"type": "nope"}]}).fit(X, labels)
    with pytest.raises(ValueError, match="layout"):
        recur.SequenceClassifier(layout="nct").fit(X, labels)


def test_a_directory_without_a_model_or_of_another_kind_is_refused(tmp_path):
    with pytest.raises(OSError, match="config.json"):
        recur.load(tmp_path)
    clf, _, _ = fitted()
    other = tmp_path / "other"
    clf.save(other)
    config = json.loads((other / "config.json").read_text())
    # Metadata a recur of another version would write: unreadable here, and said so.
    config["metadata"]["fit"] = {"task": "summarise"}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="`fit` metadata is unreadable"):
        recur.load(other)
    del config["metadata"]["fit"]
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="was not trained by `recur fit`"):
        recur.load(other)


def test_saving_over_a_folder_with_files_is_refused(tmp_path):
    clf, _, _ = fitted()
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        clf.save(tmp_path)


def test_an_exception_in_the_progress_callback_stops_training():
    X, labels, _ = trends(32, steps=12)
    config = {"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 2}]}

    def stop(event):
        if event["event"] == "batch":
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        recur.SequenceClassifier(config, epochs=50, progress=stop).fit(X, labels)
