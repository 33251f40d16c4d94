"""The estimators on real and synthetic sequences, and in scikit-learn's tools."""

import pickle

import numpy as np
import pytest

import recur
from conftest import trends


def test_classifier_scores_japanese_vowels_as_recur_fit_does(vowels):
    X, y, Xt, yt = vowels
    clf = recur.SequenceClassifier().fit(X, y)
    assert list(clf.classes_) == [str(k) for k in range(1, 10)]
    assert clf.score(Xt, yt) >= 0.97
    proba = clf.predict_proba(Xt)
    assert proba.shape == (len(Xt), 9) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_layouts_and_forms_of_x_give_the_same_answers():
    X, labels, _ = trends(40)
    clf = recur.SequenceClassifier().fit(X, labels)
    p = clf.predict_proba(X)
    # A list of [time, channels] arrays, and aeon's [n, channels, time] (array and list).
    np.testing.assert_array_equal(p, clf.predict_proba(list(X)))
    aeon = recur.SequenceClassifier(layout="aeon").fit(X.transpose(0, 2, 1), labels)
    np.testing.assert_array_equal(p, aeon.predict_proba(X.transpose(0, 2, 1)))
    np.testing.assert_array_equal(p, aeon.predict_proba([x.T for x in X]))
    # float64 and a non-contiguous view read as the same values.
    np.testing.assert_allclose(p, clf.predict_proba(np.asfortranarray(X.astype(np.float64))), atol=1e-6)


def test_univariate_2d_x_and_integer_labels():
    X, labels, _ = trends(40, channels=1)
    y = (labels == "up").astype(int) + 3
    clf = recur.SequenceClassifier().fit(X[:, :, 0], y)
    assert clf.classes_.tolist() == [3, 4]
    assert set(clf.predict(X[:, :, 0]).tolist()) <= {3, 4}
    assert clf.score(X[:, :, 0], y) > 0.9


def test_regressor_learns_a_slope():
    X, _, slope = trends(60, seed=1)
    reg = recur.SequenceRegressor().fit(X, slope)
    assert reg.predict(X).shape == (60,)
    Xt, _, st = trends(30, seed=2)
    assert reg.score(Xt, st) > 0.8


def test_gradient_training_with_a_config_and_progress_events():
    X, labels, _ = trends(48, steps=16)
    config = {"layers": [{"type": "gru", "units": 8}, {"type": "dense", "units": 2}]}
    events = []
    clf = recur.SequenceClassifier(config, epochs=3, batch_size=16, progress=events.append)
    clf.fit(X, labels)
    assert "kept epoch" in clf.summary_
    kinds = {e["event"] for e in events}
    assert {"note", "epoch_started", "batch", "epoch_ended"} <= kinds
    assert [e["epoch"] for e in events if e["event"] == "epoch_ended"] == [1, 2, 3]


def test_sklearn_clone_params_and_pickle():
    from sklearn.base import clone

    clf = recur.SequenceClassifier(epochs=5, training={"optimizer": "adam"}, layout="aeon")
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert copy.set_params(epochs=7).epochs == 7 and clf.epochs == 5
    X, labels, _ = trends(30)
    fitted = recur.SequenceClassifier().fit(X, labels)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert not hasattr(clone(fitted), "predictor_")


def test_pipeline_cross_val_score_and_grid_search():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, labels, _ = trends(60)
    pipe = Pipeline([("scale", FunctionTransformer(lambda a: a * 10.0)), ("clf", recur.SequenceClassifier())])
    assert pipe.fit(X, labels).score(X, labels) > 0.9
    scores = cross_val_score(recur.SequenceClassifier(), X, labels, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    search = GridSearchCV(recur.SequenceClassifier(), {"seed": [1, 2]}, cv=2, n_jobs=1).fit(X, labels)
    assert search.best_params_["seed"] in (1, 2) and search.best_score_ > 0.8


def test_not_fitted_estimator_says_so():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        recur.SequenceClassifier().predict(np.zeros((2, 5, 1), np.float32))


def test_verbose_prints_recur_notes_and_each_epoch(capsys):
    X, labels, _ = trends(32, steps=12)
    config = {"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 2}]}
    recur.SequenceClassifier(config, epochs=2, verbose=True).fit(X, labels)
    err = capsys.readouterr().err
    assert "gradient" in err and "epoch 1/2  loss" in err and "epoch 2/2  loss" in err and "val_accuracy" in err


def test_without_scikit_learn_the_stand_in_bases_keep_its_rules():
    from recur._sklearn_free import BaseEstimator, ClassifierMixin

    class Tiny(ClassifierMixin, BaseEstimator):
        def __init__(self, a=1, *, b=None):
            self.a, self.b = a, b

        def predict(self, X):
            return np.zeros(len(X))

    t = Tiny(b=2)
    assert t.get_params() == {"a": 1, "b": 2}
    assert t.set_params(a=5).a == 5 and repr(t) == "Tiny(a=5, b=2)"
    with pytest.raises(ValueError, match="invalid parameter 'c'"):
        t.set_params(c=1)
    assert t.score([1, 2], [0, 1]) == 0.5
