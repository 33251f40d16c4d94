"""The readers: the .ts parser and the Quick, Draw! loader `recur fit` and `recur sketch` use."""

import json
import warnings

import numpy as np
import pytest

import recur


def test_read_ts_gives_sequences_of_their_own_lengths_and_labels(vowels):
    X, y = vowels[0], vowels[1]
    assert len(X) == len(y) == 270
    assert all(x.dtype == np.float32 and x.shape[1] == 12 for x in X)
    assert min(x.shape[0] for x in X) == 7 and max(x.shape[0] for x in X) == 26
    assert sorted(set(y.tolist())) == [str(k) for k in range(1, 10)]


def test_read_ts_names_the_line_of_a_bad_file(tmp_path):
    bad = tmp_path / "bad.ts"
    bad.write_text("@problemName x\n@univariate true\n@classLabel true a b\n@data\n1,2,3:c\n")
    with pytest.raises(ValueError, match="bad.ts: line 5"):
        recur.read_ts(bad)
    with pytest.raises(OSError, match="missing.ts"):
        recur.read_ts(tmp_path / "missing.ts")


def test_read_quickdraw_reads_simplified_ndjson_and_skips_bad_drawings(tmp_path):
    good = {"word": "cat", "key_id": "1", "recognized": True, "countrycode": "FR",
            "drawing": [[[0, 10, 20], [0, 5, 0]], [[5, 6], [7, 8]]]}
    lines = [json.dumps(good), json.dumps({**good, "key_id": "2", "drawing": "nope"})]
    path = tmp_path / "cat.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawings, words = recur.read_quickdraw(path)
    assert len(drawings) == 1 and "skipped 1 bad drawings" in str(caught[0].message)
    assert words.tolist() == ["cat"]
    d = drawings[0]
    assert (d["word"], d["key_id"], d["recognized"], d["countrycode"]) == ("cat", "1", True, "FR")
    np.testing.assert_array_equal(d["strokes"][0], [[0, 0], [10, 5], [20, 0]])
    with pytest.raises(ValueError, match="strict"):
        recur.read_quickdraw(path, strict=True)
    (tmp_path / "cat.txt").write_text("")
    with pytest.raises(OSError, match="unsupported file type"):
        recur.read_quickdraw(tmp_path / "cat.txt")
