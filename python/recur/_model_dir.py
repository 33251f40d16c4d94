"""What every fitted estimator shares: its model directory (a temporary one unless saved or
loaded), saving it where the command line reads it, and pickling with its files."""

import os
import shutil
import tempfile


class ModelDirectory:
    """A fitted estimator's model directory. A subclass names the attribute holding its
    loaded native model (``_NATIVE``), the native class that opens a directory (``_open``) and
    takes a loaded model as its learned state in ``_adopt(native, workdir)``."""

    def save(self, path):
        """Writes the model directory (the files the command line writes with ``--out``) to
        ``path``, a new or empty folder, which the command line then reads with ``--model``."""
        native = getattr(self, self._NATIVE, None)
        if native is None:
            raise not_fitted(self)
        path = os.fspath(path)
        if os.path.isdir(path) and os.listdir(path):
            raise FileExistsError(f"{path} is not empty: save a model into a new or empty folder")
        # Copied beside its destination, then renamed: a reader never sees half a model.
        parent = os.path.dirname(os.path.abspath(path))
        staging = tempfile.mkdtemp(prefix=".recur-save-", dir=parent)
        try:
            shutil.copytree(native.dir, os.path.join(staging, "model"))
            if os.path.isdir(path):
                os.rmdir(path)
            os.replace(os.path.join(staging, "model"), path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return path

    def __getstate__(self):
        # A fitted estimator pickles (and deep-copies) with its model directory's files.
        state = self.__dict__.copy()
        native = state.pop(self._NATIVE, None)
        state.pop("_workdir", None)
        state.pop("model_dir_", None)
        if native is not None:
            state["_model_files"] = _read_tree(native.dir)
        return state

    def __setstate__(self, state):
        files = state.pop("_model_files", None)
        self.__dict__.update(state)
        if files is not None:
            workdir, out = temporary_model_dir()
            _write_tree(out, files)
            self._adopt(self._open(out), workdir)


def temporary_model_dir():
    """A temporary directory (removed with the returned object) and the model path inside it."""
    workdir = tempfile.TemporaryDirectory(prefix="recur-model-")
    return workdir, os.path.join(workdir.name, "model")


def not_fitted(estimator):
    """scikit-learn's NotFittedError (a ValueError without scikit-learn) for ``estimator``."""
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:  # pragma: no cover
        NotFittedError = ValueError
    return NotFittedError(f"this {type(estimator).__name__} is not fitted yet: call fit first (or recur.load)")


def _read_tree(root):
    files = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, root)] = f.read()
    return files


def _write_tree(root, files):
    for rel, data in files.items():
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
