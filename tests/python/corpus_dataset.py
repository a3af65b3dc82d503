"""A synthfm corpus as a PyTorch dataset (the README's example).

Needs only Debian's python3-torch and python3-pil (sqlite3 is in the
standard library). Run as a script it checks a corpus against its
manifest:  python3 tests/python/corpus_dataset.py CORPUS_DIR
"""
import contextlib
import os
import sqlite3
import sys

import numpy as np
import torch
from PIL import Image


def _manifest(root):
    """The corpus manifest, read-only (a reader never changes it)."""
    uri = "file:%s?mode=ro" % os.path.join(root, "manifest.sqlite")
    return sqlite3.connect(uri, uri=True)


class SynthfmCorpus(torch.utils.data.Dataset):
    """One item per sample of a corpus made by `synthfm generate`.

    item["image"]:  float32 tensor (1, H, W), the 8-bit image / 255
    item["labels"]: int64 tensor (H, W), 0 = background, 1..K = instances
    plus "index", "module" ("shape" or "boundary") and "n_instances",
    all read from DIR/manifest.sqlite (schemas/manifest.sql).
    """

    def __init__(self, root, module=None):
        self.root = root
        with contextlib.closing(_manifest(root)) as db:
            sql = ("SELECT sample_index, module, image_path, label_path,"
                   " n_instances FROM samples")
            args = ()
            if module:
                sql += " WHERE module = ?"
                args = (module,)
            self.rows = db.execute(sql + " ORDER BY sample_index", args).fetchall()

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        index, module, image_path, label_path, n_instances = self.rows[i]
        image = np.asarray(Image.open(os.path.join(self.root, image_path)))
        # 16-bit label PNGs open as mode "I;16" (or "I"): widen to int64.
        labels = np.asarray(Image.open(os.path.join(self.root, label_path)))
        return {
            "image": torch.from_numpy(image.astype(np.float32) / 255.0)[None],
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "index": index,
            "module": module,
            "n_instances": n_instances,
        }


def check(root):
    """Every item against the manifest: sizes, label range, instance areas."""
    ds = SynthfmCorpus(root)
    with contextlib.closing(_manifest(root)) as db:
        areas = dict(((s, l), a) for s, l, a in db.execute(
            "SELECT sample_index, label, area FROM instances"))
        sizes = dict((s, (w, h)) for s, w, h in db.execute(
            "SELECT sample_index, width, height FROM samples"))
    for item in ds:
        i, lab = item["index"], item["labels"]
        w, h = sizes[i]
        assert item["image"].shape == (1, h, w), (i, item["image"].shape)
        assert item["image"].dtype == torch.float32
        assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
        assert lab.shape == (h, w) and lab.dtype == torch.int64
        assert int(lab.max()) == item["n_instances"], (i, int(lab.max()))
        counts = torch.bincount(lab.flatten(), minlength=item["n_instances"] + 1)
        for k in range(1, item["n_instances"] + 1):
            assert int(counts[k]) == areas[(i, k)], (i, k, int(counts[k]))
    # Batches: all images of a corpus have one size.
    loader = torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False)
    batch = next(iter(loader))
    assert batch["image"].shape[0] == min(2, len(ds))
    shapes = SynthfmCorpus(root, module="shape")
    assert all(it["module"] == "shape" for it in shapes)
    print("%s: %d samples (%d shape) match the manifest" % (root, len(ds), len(shapes)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: corpus_dataset.py CORPUS_DIR")
    check(sys.argv[1])
