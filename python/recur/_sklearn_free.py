"""Stand-ins for scikit-learn's estimator bases when scikit-learn is not installed: the same
``get_params``/``set_params`` (from ``__init__``'s signature) and ``score``."""

import inspect

import numpy as np


class BaseEstimator:
    """Parameters are ``__init__``'s keyword arguments, stored under their own names."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """The estimator's parameters by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Sets parameters by name; an unknown name is refused."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        given = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({given})"


class ClassifierMixin:
    """``score``: mean accuracy."""

    _estimator_type = "classifier"

    def score(self, X, y):
        """The share of sequences whose predicted label is y's."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


class RegressorMixin:
    """``score``: R² (over all targets together)."""

    _estimator_type = "regressor"

    def score(self, X, y):
        """The coefficient of determination of the predictions."""
        y = np.asarray(y, dtype=np.float64)
        residual = ((y - self.predict(X)) ** 2).sum()
        total = ((y - y.mean(axis=0)) ** 2).sum()
        return float(1.0 - residual / total) if total > 0 else 0.0
