"""`cosloss score` through Click: outputs, exit codes, stdout and stderr kept apart."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli


def save(path: Path, array: object, dtype: object = None, allow_pickle: bool = False) -> str:
    np.save(path, np.asarray(array, dtype=dtype), allow_pickle=allow_pickle)  # type: ignore[call-overload]
    return str(path)


@pytest.fixture
def keras_pair(tmp_path: Path) -> tuple[str, str]:
    # tf.keras.losses.CosineSimilarity docstring example
    labels = save(tmp_path / "labels.npy", [[0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    preds = save(tmp_path / "preds.npy", [[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    return preds, labels


def run(runner: CliRunner, *args: str) -> object:
    return runner.invoke(cli, ["score", *args])


def test_keras_doc_example_default(runner: CliRunner, keras_pair: tuple[str, str]) -> None:
    result = run(runner, *keras_pair, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert summary["loss"] == -0.5
    assert summary["schema_version"] == 1
    assert summary["rows"] == 2 and summary["zero_vectors"] == 0 and summary["skipped"] == 0
    assert {k: summary["cos"][k] for k in ("mean", "std", "min", "max")} == {
        "mean": 0.5,
        "std": 0.5,
        "min": 0.0,
        "max": 1.0,
    }
    assert summary["loss_kind"] == "negative" and summary["reduction"] == "sum_over_batch_size"
    assert summary["compat"] == "keras"
    assert summary["inputs"]["pred"]["shape"] == [2, 2]


def test_keras_doc_example_weighted(runner: CliRunner, keras_pair: tuple[str, str], tmp_path: Path) -> None:
    w = save(tmp_path / "w.npy", [0.8, 0.2])
    result = run(runner, *keras_pair, "--weights", w, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["loss"] == pytest.approx(-0.0999999, abs=1e-6)


def test_keras_doc_example_sum_and_none(runner: CliRunner, keras_pair: tuple[str, str]) -> None:
    result = run(runner, *keras_pair, "--reduction", "sum", "--json")
    assert json.loads(result.stdout)["loss"] == pytest.approx(-0.99999994, abs=1e-6)  # Keras: -0.999...
    result = run(runner, *keras_pair, "--reduction", "none")
    assert result.exit_code == 0
    assert result.stdout == "-0.0\n-1.0\n"  # nothing else on stdout
    assert "reduction" in result.stderr  # the summary went to stderr


def test_none_round_trips_exactly(runner: CliRunner, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    a = save(tmp_path / "a.npy", rng.standard_normal((57, 9)))
    b = save(tmp_path / "b.npy", rng.standard_normal((57, 9)))
    result = run(runner, a, b, "--reduction", "none", "--chunk-size", "5", "--loss", "distance")
    values = np.array([float(x) for x in result.stdout.split()])
    from cosine_cli import score

    assert values.tolist() == score(a, b, reduction="none", loss="distance").losses.tolist()


def test_plain_summary_when_not_a_terminal(runner: CliRunner, sample: Path) -> None:
    result = run(runner, str(sample / "preds.npy"), str(sample / "labels.npy"))
    assert result.exit_code == 0
    table = result.stdout.split("\n\n")[0]  # the key/value block comes before the histogram
    lines = dict(line.split(None, 1) for line in table.splitlines())
    assert lines["rows"] == "64" and lines["zero_vectors"] == "1"
    assert "\x1b[" not in result.stdout


def test_weight_value_option(runner: CliRunner, keras_pair: tuple[str, str]) -> None:
    result = run(runner, *keras_pair, "--weight", "2", "--reduction", "mean_with_sample_weight", "--json")
    assert json.loads(result.stdout)["loss"] == -1.0  # (2 * -0 + 2 * -1) / 2: Keras 3 divides by w


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (str(d / "missing.npy"), "No such file"), "missing.npy"),
        (lambda d: (str(d), "directory"), "directory"),
        (lambda d: (_write(d / "text.npy", b"hello world, not numpy"), ""), "does not start like a npy file"),
        (lambda d: (_write(d / "empty.npy", b""), ""), "is empty"),
        (
            lambda d: (save(d / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True), ""),
            "never unpickles",
        ),
        (lambda d: (save(d / "str.npy", np.array(["a", "b"])), ""), "expected real numbers"),
        (lambda d: (save(d / "rec.npy", np.zeros(2, dtype=[("x", "f4"), ("y", "f4")])), ""), "structured"),
    ],
)
def test_bad_pred_is_exit_3_with_one_line(
    runner: CliRunner, tmp_path: Path, keras_pair: tuple[str, str], setup: object, message: str
) -> None:
    path, _ = setup(tmp_path)  # type: ignore[operator]
    result = run(runner, path, keras_pair[1])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_object_npy_is_not_unpickled(runner: CliRunner, tmp_path: Path, keras_pair: tuple[str, str]) -> None:
    # A pickle that would create a file if it were ever loaded.
    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    path = save(tmp_path / "evil.npy", np.array([Boom(), Boom()], dtype=object), allow_pickle=True)
    result = run(runner, path, keras_pair[1])
    assert result.exit_code == 3 and not marker.exists()


def test_shape_mismatch(runner: CliRunner, tmp_path: Path) -> None:
    a = save(tmp_path / "a.npy", np.ones((4, 3)))
    b = save(tmp_path / "b.npy", np.ones((5, 3)))
    c = save(tmp_path / "c.npy", np.ones((4, 2)))
    result = run(runner, a, b)
    assert result.exit_code == 3 and "(4 rows vs 5)" in result.stderr
    result = run(runner, a, c)
    assert result.exit_code == 3 and "dimension 3" in result.stderr and "but 2" in result.stderr


def test_truncated_npy(runner: CliRunner, tmp_path: Path, keras_pair: tuple[str, str]) -> None:
    full = Path(save(tmp_path / "full.npy", np.ones((2, 2), dtype=np.float32)))
    cut = tmp_path / "cut.npy"
    cut.write_bytes(full.read_bytes()[:-3])
    result = run(runner, str(cut), keras_pair[1])
    assert result.exit_code == 3 and "truncated" in result.stderr
    head = tmp_path / "head.npy"
    head.write_bytes(full.read_bytes()[:20])
    result = run(runner, str(head), keras_pair[1])
    assert result.exit_code == 3 and "head.npy" in result.stderr


def test_nan_default_is_exit_3_naming_file_and_row(runner: CliRunner, tmp_path: Path) -> None:
    x = np.ones((6, 3))
    y = x.copy()
    y[4, 1] = np.nan
    a, b = save(tmp_path / "a.npy", x), save(tmp_path / "b.npy", y)
    result = run(runner, a, b, "--chunk-size", "2")
    assert result.exit_code == 3
    assert "b.npy: row 4: NaN or inf" in result.stderr
    result = run(runner, a, b, "--nan-policy", "skip", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["skipped"] == 1
    result = run(runner, a, b, "--nan-policy", "propagate", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["loss"] is None and summary["nonfinite"] == 1


def test_bad_weights_exit_3(runner: CliRunner, keras_pair: tuple[str, str], tmp_path: Path) -> None:
    for name, w, msg in [
        ("neg", [1.0, -2.0], "negative"),
        ("nan", [np.nan, 1.0], "not finite"),
        ("short", [1.0], "has 1 weights"),
        ("long", [1.0, 1.0, 1.0], "has 3 weights"),
    ]:
        result = run(runner, *keras_pair, "--weights", save(tmp_path / f"{name}.npy", w))
        assert result.exit_code == 3, name
        assert msg in result.stderr and f"{name}.npy" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--reduction", "avg"],
        ["--compat", "tf"],
        ["--chunk-size", "0"],
        ["--weight", "1", "--weights", "w.npy"],
        ["--axis", "5"],
    ],
)
def test_usage_errors_are_exit_2(runner: CliRunner, keras_pair: tuple[str, str], args: list[str]) -> None:
    result = run(runner, *keras_pair, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""


def test_nd_input_and_axis(runner: CliRunner, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    a, b = save(tmp_path / "a.npy", x), save(tmp_path / "b.npy", y)
    result = run(runner, a, b, "--reduction", "none")
    per = -(x * y).sum(-1) / np.linalg.norm(x, axis=-1) / np.linalg.norm(y, axis=-1)
    np.testing.assert_allclose([float(v) for v in result.stdout.split()], per.ravel(), rtol=1e-12)
    result = run(runner, a, b, "--reduction", "none", "--axis", "0", "--chunk-size", "2")
    per0 = -(x * y).sum(0) / np.linalg.norm(x, axis=0) / np.linalg.norm(y, axis=0)
    np.testing.assert_allclose([float(v) for v in result.stdout.split()], per0.ravel(), rtol=1e-12)


def test_fortran_and_big_endian_npy(runner: CliRunner, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((11, 5)), rng.standard_normal((11, 5))
    ref = run(runner, save(tmp_path / "a.npy", x), save(tmp_path / "b.npy", y), "--reduction", "none").stdout
    fa = save(tmp_path / "fa.npy", np.asfortranarray(x))
    be = save(tmp_path / "be.npy", y.astype(">f8"))
    assert run(runner, fa, be, "--reduction", "none", "--chunk-size", "3").stdout == ref


def test_one_dimensional_input_is_one_vector(runner: CliRunner, tmp_path: Path) -> None:
    a = save(tmp_path / "a.npy", [1.0, 2.0, 2.0])
    b = save(tmp_path / "b.npy", [2.0, 4.0, 4.0])
    result = run(runner, a, b, "--json")
    assert json.loads(result.stdout)["loss"] == -1.0 and json.loads(result.stdout)["rows"] == 1


def test_version_and_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and "cosloss" in result.stdout
    result = runner.invoke(cli, ["score", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout and "--nan-policy" in result.stdout


def test_python_dash_m_and_help_imports_no_numpy() -> None:
    code = "import sys; from cosine_cli.cli import cli; print('numpy' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    done = subprocess.run([sys.executable, "-m", "cosine_cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "score" in done.stdout


def test_core_imports_only_numpy() -> None:
    code = (
        "import sys, cosine_cli.core, cosine_cli.accumulate; "
        "print(sorted(m for m in ('click', 'rich', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sample_data_matches_its_script(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run the script into tmp_path and compare every array it writes with the committed one
    spec = importlib.util.spec_from_file_location("make_sample_data", sample / "make_sample_data.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "HERE", tmp_path)
    script.main()
    for name in ("preds.npy", "labels.npy", "weights.npy"):
        made = np.load(tmp_path / name, allow_pickle=False)
        committed = np.load(sample / name, allow_pickle=False)
        assert made.dtype == committed.dtype and made.shape == committed.shape, name
        np.testing.assert_array_equal(made, committed, err_msg=name)
    preds = np.load(sample / "preds.npy", allow_pickle=False)
    assert preds.shape == (64, 8) and preds.dtype == np.float32
    assert not preds[5].any()  # the zero prediction the README's example shows
