"""benchmarks/datagen.py and benchmarks/run.py, end to end on a tiny copy of the datasets (a few seconds)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
DATASETS = ["npy", "parquet_fsl", "csv"]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    data = tmp_path_factory.mktemp("bench-data")
    datagen = _load("datagen")
    assert datagen.main([str(data), "--scale", "0.0005", "--only", *DATASETS]) == 0
    out = data / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--data",
            str(data),
            "--only",
            *DATASETS,
            "--runs",
            "1",
            "--timeout",
            "120",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return {"data": data, "datagen": datagen, "stdout": proc.stdout, "results": json.loads(out.read_text())}


def test_datagen_is_seeded_and_skips_what_exists(bench: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    data: Path = bench["data"]  # type: ignore[assignment]
    meta = json.loads((data / "npy" / "meta.json").read_text())
    assert (meta["rows"], meta["dim"]) == (500, 768)
    pred, label = np.load(data / "npy" / "pred.npy"), np.load(data / "npy" / "label.npy")
    assert pred.shape == label.shape == (500, 768) and pred.dtype == np.float32
    cos = np.einsum("ij,ij->i", pred.astype(np.float64), label) / (
        np.linalg.norm(pred.astype(np.float64), axis=1) * np.linalg.norm(label.astype(np.float64), axis=1)
    )
    assert 0.98 < cos.mean() < 0.995 and abs(cos.mean() - meta["mean_cos"]) < 1e-12
    import pyarrow.parquet as pq

    table = pq.read_table(data / "parquet_fsl" / "pred.parquet")
    assert str(table.schema.field("emb").type) == "fixed_size_list<element: float>[768]"
    assert np.array_equal(table.column("emb").combine_chunks().flatten().to_numpy().reshape(500, 768), pred)
    before = (data / "npy" / "pred.npy").stat().st_mtime_ns
    bench["datagen"].main([str(data), "--scale", "0.0005", "--only", "npy"])  # type: ignore[attr-defined]
    assert "skipped" in capsys.readouterr().err
    assert (data / "npy" / "pred.npy").stat().st_mtime_ns == before


def test_run_prints_a_table_and_records_every_contender(bench: dict[str, object]) -> None:
    stdout: str = bench["stdout"]  # type: ignore[assignment]
    results: dict = bench["results"]  # type: ignore[assignment]
    assert "WARNING" not in stdout
    assert list(results["datasets"]) == DATASETS
    for name in DATASETS:
        assert f"== {name}: " in stdout
        rec = results["datasets"][name]
        keys = {c["key"] for c in rec["contenders"]}
        assert {"cosloss", "cat", "numpy"} <= keys
        for c in rec["contenders"]:
            assert c["label"] in stdout
            (run,) = c["runs"]
            assert run["exit"] == 0 and run["wall_s"] > 0 and run["maxrss_kib"] > 0, run
            assert c["summary"]["ok_runs"] == 1
            if c["key"] not in ("cat", "pyarrow"):  # cat and the pyarrow decode floor compute nothing
                assert abs(run["result"] - rec["meta"]["mean_cos"]) < 1e-5
    assert "median s" in stdout and "peak RSS MiB" in stdout


def test_duckdb_contenders_agree_with_cosloss(bench: dict[str, object]) -> None:
    pytest.importorskip("duckdb")
    results: dict = bench["results"]  # type: ignore[assignment]
    for name in ("parquet_fsl", "csv"):
        rec = results["datasets"][name]
        by_key = {c["key"]: c for c in rec["contenders"]}
        assert rec["reference"] == "duckdb"
        assert abs(by_key["duckdb"]["summary"]["result"] - by_key["cosloss"]["summary"]["result"]) < 1e-5


def test_markdown_from_json_and_doc_update(bench: dict[str, object], tmp_path: Path) -> None:
    run = _load("run")
    md = run.markdown(bench["results"])
    assert "| contender | median s |" in md and "cosloss score A B --json -q" in md
    doc = tmp_path / "perf.md"
    doc.write_text(f"# Perf\n\n{run.DOC_START}\nold\n{run.DOC_END}\n\nafter\n")
    run.update_doc(doc, md)
    text = doc.read_text()
    assert "old" not in text and md in text and text.endswith(f"{run.DOC_END}\n\nafter\n")


def test_a_cosine_cli_edit_between_cosloss_runs_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _load("run")
    hashes = iter(["aaa", "aaa", "aaa", "bbb", "bbb"])  # start, cosloss run 1, 2, 3, end
    monkeypatch.setattr(run, "code_state", lambda: {"commit": "c0ffee0", "cosine_cli_sha1": next(hashes)})
    monkeypatch.setattr(
        run, "run_once", lambda c, timeout: {"wall_s": 1.0, "maxrss_kib": 1024, "exit": 0, "result": 0.99}
    )
    monkeypatch.setattr(run, "warm", lambda files: None)
    ds = run.Dataset(
        "npy",
        "npy",
        [],
        {"format": "npy", "mean_cos": 0.99},
        [run.Contender("cosloss", "cosloss score A B --json -q", ["cosloss"], "cosloss-json")],
    )
    rec = run.run_dataset(ds, 3, {"cosloss"}, 10.0, 1e-5)
    (warning,) = rec["warnings"]
    assert "changed between cosloss runs" in warning and "aaa: " in warning and "bbb: " in warning
    assert rec["code"]["cosine_cli_sha1"] == "aaa" and rec["code_after"]["cosine_cli_sha1"] == "bbb"
