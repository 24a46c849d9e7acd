"""In-memory objects in the library API give the same numbers as the equivalent arrays and files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cosine_cli
from cosine_cli import score

RNG = np.random.default_rng(11)
P = RNG.standard_normal((300, 8)).astype(np.float32)
L = (P + 0.2 * RNG.standard_normal((300, 8))).astype(np.float32)
REF = score(P, L).loss


def _fsl(x: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


TABLE = pa.table({"id": np.arange(300), "p": _fsl(P), "l": _fsl(L), "w": np.linspace(0, 1, 300)})


def test_pyarrow_objects_through_the_table_path(tmp_path: Path) -> None:
    assert score(TABLE, pred_col="p", label_col="l").loss == pytest.approx(REF, abs=1e-12)
    assert score(TABLE.to_reader(max_chunksize=7), L, pred_col="p").loss == pytest.approx(REF, abs=1e-12)
    assert score(TABLE.column("p"), TABLE.column("l")).loss == pytest.approx(REF, abs=1e-12)
    assert score(TABLE.to_batches()[0], pred_col="p", label_col="l").loss == pytest.approx(REF, abs=1e-12)
    # the same options as a file, the same numbers
    pq.write_table(TABLE, tmp_path / "t.parquet")
    file = score(str(tmp_path / "t.parquet"), pred_col="p", label_col="l", weight_col="w", reduction="sum")
    mem = score(TABLE, pred_col="p", label_col="l", weight_col="w", reduction="sum")
    assert mem.loss == pytest.approx(file.loss, abs=1e-12)
    assert mem.inputs["pred"]["format"] == "arrow-object" and mem.inputs["pred"]["column"] == "p"


def test_polars_frames_and_series() -> None:
    pl = pytest.importorskip("polars")
    df = pl.from_arrow(TABLE)
    assert score(df, pred_col="p", label_col="l").loss == pytest.approx(REF, abs=1e-12)
    assert score(df["p"], df["l"]).loss == pytest.approx(REF, abs=1e-12)
    lists = df.with_columns(pl.col("p").cast(pl.List(pl.Float32)))
    assert score(lists["p"], L).loss == pytest.approx(REF, abs=1e-12)


def test_pandas_series_and_frames() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"p": list(P), "l": list(L)})
    assert score(frame["p"], frame["l"]).loss == pytest.approx(REF, abs=1e-12)
    wide = pd.DataFrame(P, columns=[f"e{i}" for i in range(8)])
    assert score(wide, L).loss == pytest.approx(REF, abs=1e-12)


def test_torch_tensors_without_importing_torch_first() -> None:
    torch = pytest.importorskip("torch")
    p = torch.tensor(P, requires_grad=True)
    assert score(p, torch.tensor(L)).loss == pytest.approx(REF, abs=1e-12)
    bf = score(p.to(torch.bfloat16), torch.tensor(L).to(torch.bfloat16)).loss
    want = score(p.to(torch.bfloat16).float().detach().numpy(), torch.tensor(L).to(torch.bfloat16).float().numpy())
    assert bf == pytest.approx(want.loss, abs=1e-12)


def test_public_names_are_listed() -> None:
    names = dir(cosine_cli)
    for name in ("score", "score_chunks", "InputError", "ScoreResult", "cosine_loss"):
        assert name in names
