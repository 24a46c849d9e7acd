"""Regenerate sample_data/ deterministically: python sample_data/make_sample_data.py

preds.npy / labels.npy: 64 x 8 float32 embeddings; labels are preds plus noise,
with one zero prediction (row 5) and one flipped row (row 9) so that the
summary has something to show. weights.npy: one float32 weight per row.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20261122)
    labels = rng.standard_normal((64, 8)).astype(np.float32)
    preds = (labels + 0.35 * rng.standard_normal((64, 8))).astype(np.float32)
    preds[5] = 0.0
    preds[9] = -labels[9]
    weights = rng.uniform(0.5, 2.0, 64).astype(np.float32)
    np.save(HERE / "preds.npy", preds)
    np.save(HERE / "labels.npy", labels)
    np.save(HERE / "weights.npy", weights)


if __name__ == "__main__":
    main()
