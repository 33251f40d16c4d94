"""Training progress for the estimators: the user's ``progress`` callback, and with
``verbose`` recur's notes and each epoch on stderr."""

import sys


def listener(progress, verbose):
    """The callback the native fit gets: the user's ``progress``, and with ``verbose`` recur's
    notes and a line (or, with tqdm installed, a bar) per epoch on stderr; None for neither."""
    shown = _Shown() if verbose else None
    if progress is None and shown is None:
        return None

    def listen(event):
        if shown is not None:
            shown.show(event)
        if progress is not None:
            progress(event)

    return listen


class _Shown:
    """``verbose``'s display: notes as lines, each epoch as a tqdm bar over its batches where
    tqdm is installed, else as a line when it ends."""

    def __init__(self):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self.tqdm, self.bar = tqdm, None

    def show(self, event):
        kind = event["event"]
        if kind == "note":
            print(event["text"], file=sys.stderr)
        elif kind == "epoch_started" and self.tqdm is not None:
            self.bar = self.tqdm(total=event["batches"], desc=f"epoch {event['epoch']}/{event['epochs']}", leave=False)
        elif kind == "batch" and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event['loss']:.4f}")
        elif kind == "epoch_ended":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            figures = "".join(f"  {k} {v:.4f}" for k, v in event["metrics"].items())
            print(f"epoch {event['epoch']}/{event['epochs']}  loss {event['loss']:.4f}{figures}", file=sys.stderr)
