"""Regenerate sample_data/ deterministically: python sample_data/make_sample_data.py

preds.npy / labels.npy: 64 x 8 float32 embeddings; labels are preds plus noise,
with one zero prediction (row 5) and one flipped row (row 9) so that the
summary has something to show. weights.npy: one float32 weight per row.

For the evaluations (README: Evaluations in the same pass), from a second generator so that the
files above stay as they were: targets.npy (+1 / -1 a row, --loss embedding), scores.npy (a gold
similarity a row, --loss mse and the correlations), preds_fp16.npy (preds rounded through float16,
a second candidate) and pairs.parquet (pred, label, lang and score columns, for --group-col).
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

    extra = np.random.default_rng(20261201)
    cos = np.einsum("ij,ij->i", preds, labels) / np.maximum(
        np.linalg.norm(preds, axis=1) * np.linalg.norm(labels, axis=1), 1e-12
    )
    np.save(HERE / "targets.npy", np.where(extra.uniform(size=64) < 0.75, 1.0, -1.0).astype(np.float32))
    np.save(HERE / "scores.npy", np.clip(cos + 0.1 * extra.standard_normal(64), 0, 1).round(2))
    np.save(HERE / "preds_fp16.npy", preds.astype(np.float16).astype(np.float32))
    import pyarrow as pa
    import pyarrow.parquet as pq

    langs = extra.choice(["de", "en", "fr"], 64)
    table = pa.table(
        {
            "pred": pa.FixedSizeListArray.from_arrays(pa.array(preds.ravel()), 8),
            "label": pa.FixedSizeListArray.from_arrays(pa.array(labels.ravel()), 8),
            "lang": langs,
            "score": np.load(HERE / "scores.npy"),
        }
    )
    pq.write_table(table, HERE / "pairs.parquet")


if __name__ == "__main__":
    main()
