"""What the UEA/UCR baseline scripts share: where the data sets live and their file names."""
import os
import sys

# Dataset name -> folder under the data directory.
FOLDERS = {
    "JapaneseVowels": "uea_japanese_vowels",
    "PickupGestureWiimoteZ": "ucr_pickup_gesture_wiimote_z",
    "PLAID": "ucr_plaid",
}


def default_data_dir():
    """shared/data next to the repository, or next to the folder holding it."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = [os.path.join(repo, "..", "shared", "data"), os.path.join(repo, "..", "..", "shared", "data")]
    for c in candidates:
        if os.path.isdir(c):
            return os.path.normpath(c)
    return os.path.normpath(candidates[0])


def dataset_files(data_dir, name):
    """The TRAIN and TEST paths of a dataset, or exit with a message saying what is missing."""
    folder = os.path.join(data_dir, FOLDERS.get(name, name))
    paths = [os.path.join(folder, f"{name}_{part}.ts") for part in ("TRAIN", "TEST")]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        sys.exit(f"error: data for {name} not found: {', '.join(missing)} (give the folder holding "
                 f"{FOLDERS.get(name, name)}/ with --data)")
    return paths
