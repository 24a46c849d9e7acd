"""The bad-input corpus: every case is generated into a directory, nothing is committed.

``build(directory)`` writes the files and returns the cases. Each case is run
through the CLI by tests/test_bad_inputs.py, which asserts the exit code, one
line on stderr naming the file and the problem, no traceback and no output file.
Run as a script to see the corpus: ``python tests/corpus.py /tmp/corpus``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Case:
    name: str
    args: list[str]  #: arguments after `cosloss score`
    exit_code: int
    message: str  #: a piece of the one stderr line (case-insensitive)
    names_file: str | None = None  #: a path the error line must mention
    needs: str | None = None  #: a reader format that must be registered (else the case is skipped)
    output: str | None = None  #: an output path that must not exist afterwards
    extra_args: list[str] = field(default_factory=list)


GOOD_A = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
GOOD_B = GOOD_A[::-1].copy()


def _npy(path: Path, array: np.ndarray, allow_pickle: bool = False) -> str:
    np.save(path, array, allow_pickle=allow_pickle)
    return str(path)


def _bytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _parquet(path: Path, table: object) -> str:
    import pyarrow.parquet as pq

    pq.write_table(table, path)  # type: ignore[arg-type]
    return str(path)


def _npy_cases(d: Path, good: str) -> list[Case]:
    full = _npy_bytes(GOOD_A)
    cases = [
        Case("missing file", [str(d / "nope.npy"), good], 3, "no such file", "nope.npy"),
        Case("directory", [str(d), good], 3, "directory", str(d)),
        Case("empty file", [_bytes(d / "empty.npy", b""), good], 3, "empty", "empty.npy"),
        Case(
            "wrong magic",
            [_bytes(d / "magic.npy", b"\x93NUMPZ" + full[6:]), good],
            3,
            "does not start like a npy file",
            "magic.npy",
        ),
        Case(
            "lying extension",
            [_bytes(d / "text.npy", b"a,b\n1,2\n"), good],
            3,
            "does not start like a npy file (its extension says .npy)",
            "text.npy",
        ),
        Case(
            "npy truncated in header",
            [_bytes(d / "cut_head.npy", full[:30]), good],
            3,
            "not a readable .npy file",
            "cut_head.npy",
        ),
        Case("npy truncated in data", [_bytes(d / "cut_data.npy", full[:-5]), good], 3, "truncated", "cut_data.npy"),
        Case(
            "npy object dtype",
            [_npy(d / "obj.npy", np.array([1, "x", None], dtype=object), True), good],
            3,
            "unpickle",
            "obj.npy",
        ),
        Case(
            "npy structured dtype",
            [_npy(d / "rec.npy", np.zeros(4, dtype=[("x", "f4"), ("y", "f4")])), good],
            3,
            "structured",
            "rec.npy",
        ),
        Case(
            "npy string dtype",
            [_npy(d / "str.npy", np.array([["a", "b", "c"]] * 4)), good],
            3,
            "real numbers",
            "str.npy",
        ),
        Case(
            "npy complex dtype",
            [_npy(d / "cplx.npy", GOOD_A.astype(np.complex64)), good],
            3,
            "real numbers",
            "cplx.npy",
        ),
        Case(
            "npy zero rows",
            [
                _npy(d / "zero_rows.npy", np.zeros((0, 3), np.float32)),
                _npy(d / "zero_rows_b.npy", np.zeros((0, 3), np.float32)),
            ],
            3,
            "no vectors",
            "zero_rows.npy",
        ),
        Case(
            "npy dimension 0", [_npy(d / "dim0.npy", np.zeros((4, 0), np.float32)), good], 3, "dimension 0", "dim0.npy"
        ),
        Case("npy scalar", [_npy(d / "scalar.npy", np.float32(3)), good], 3, "single number", "scalar.npy"),
        Case("row counts differ", [_npy(d / "rows5.npy", np.ones((5, 3), np.float32)), good], 3, "5 rows", "rows5.npy"),
        Case(
            "dimensions differ", [_npy(d / "dim4.npy", np.ones((4, 4), np.float32)), good], 3, "dimension", "dim4.npy"
        ),
        Case(
            "nan under error policy",
            [_npy(d / "nan.npy", np.where(GOOD_A == 5, np.nan, GOOD_A)), good],
            3,
            "row 1: nan or inf",
            "nan.npy",
        ),
        Case(
            "inf under error policy",
            [_npy(d / "inf.npy", np.where(GOOD_A == 12, np.inf, GOOD_A)), good],
            3,
            "row 3: nan or inf",
            "inf.npy",
        ),
    ]
    weights = {
        "weights negative": ([1, -1, 1, 1], "negative"),
        "weights nan": ([1, np.nan, 1, 1], "not finite"),
        "weights inf": ([1, 1, np.inf, 1], "not finite"),
        "weights too few": ([1, 1, 1], "3 weights"),
        "weights too many": ([1, 1, 1, 1, 1], "5 weights"),
    }
    for i, (name, (w, msg)) in enumerate(weights.items()):
        path = _npy(d / f"w{i}.npy", np.array(w, dtype=np.float64))
        cases.append(Case(name, [good, good, "--weights", path], 3, msg, path))
    cases.append(
        Case("weights file missing", [good, good, "--weights", str(d / "now.npy")], 3, "no such file", "now.npy")
    )
    cases.append(Case("negative --weight", [good, good, "--weight", "-1"], 3, "must be finite and >= 0"))
    return cases


def _parquet_cases(d: Path, good: str) -> list[Case]:
    import pyarrow as pa

    ok = _parquet(d / "ok.parquet", pa.table({"emb": pa.array(GOOD_A.tolist(), pa.list_(pa.float32()))}))
    raw = Path(ok).read_bytes()
    return [
        Case(
            "parquet truncated",
            [_bytes(d / "cut.parquet", raw[: len(raw) // 2]), good],
            3,
            "not a readable Parquet file",
            "cut.parquet",
            needs="parquet",
        ),
        Case(
            "parquet corrupt footer",
            [_bytes(d / "footer.parquet", raw[:-12] + b"\0" * 8 + b"PAR1"), good],
            3,
            "not a readable Parquet file",
            "footer.parquet",
            needs="parquet",
        ),
        Case(
            "parquet string vectors",
            [_parquet(d / "strvec.parquet", pa.table({"emb": ["a b c"] * 4})), good],
            3,
            "has no vector column",
            "strvec.parquet",
            needs="parquet",
        ),
        Case(
            "parquet ragged list",
            [
                _parquet(
                    d / "ragged.parquet",
                    pa.table(
                        {"emb": pa.array([[1.0, 2, 3], [1.0, 2, 3], [1.0, 2], [1.0, 2, 3]], pa.list_(pa.float32()))}
                    ),
                ),
                good,
            ],
            3,
            "row 2",
            "ragged.parquet",
            needs="parquet",
        ),
        Case(
            "parquet null vector",
            [
                _parquet(
                    d / "nullvec.parquet",
                    pa.table({"emb": pa.array([[1.0, 2, 3], None, [1.0, 2, 3], [1.0, 2, 3]], pa.list_(pa.float32()))}),
                ),
                good,
            ],
            3,
            "row 1",
            "nullvec.parquet",
            needs="parquet",
        ),
        Case(
            "parquet null element",
            [
                _parquet(
                    d / "nullel.parquet",
                    pa.table(
                        {
                            "emb": pa.array(
                                [[1.0, 2, 3], [1.0, None, 3], [1.0, 2, 3], [1.0, 2, 3]], pa.list_(pa.float32())
                            )
                        }
                    ),
                ),
                good,
            ],
            3,
            "row 1",
            "nullel.parquet",
            needs="parquet",
        ),
    ]


def _csv_cases(d: Path, good: str) -> list[Case]:
    rows = "\n".join(",".join(str(v) for v in r) for r in GOOD_A.tolist())
    return [
        Case(
            "csv non-numeric cell",
            [_bytes(d / "cell.csv", ("a,b,c\n" + rows.replace("5.0", "five")).encode()), good],
            3,
            "five",
            "cell.csv",
            needs="csv",
        ),
        Case(
            "csv ragged rows",
            [_bytes(d / "ragged.csv", (b"a,b,c\n1,2,3\n4,5\n7,8,9\n1,1,1\n")), good],
            3,
            "expected 3 columns, got 2",
            "ragged.csv",
            needs="csv",
        ),
        Case(
            "csv header only",
            [_bytes(d / "header.csv", b"a,b,c\n"), good],
            3,
            "has no vector column",
            "header.csv",
            needs="csv",
        ),
        Case(
            "csv not utf-8",
            [_bytes(d / "latin.csv", "a,b,\xe9\n1,2,3\n4,5,6\n7,8,9\n1,1,1\n".encode("latin-1")), good],
            3,
            "not valid UTF-8",
            "latin.csv",
            needs="csv",
        ),
        Case(
            "csv gzip corrupt",
            [_bytes(d / "bad.csv.gz", gzip.compress(b"a,b,c\n1,2,3\n")[:-10]), good],
            3,
            "cannot decompress",
            "bad.csv.gz",
            needs="csv",
        ),
        Case(
            "csv bz2 not bz2",
            [_bytes(d / "fake.csv.bz2", bz2.compress(b"x")[:5]), good],
            3,
            "cannot decompress",
            "fake.csv.bz2",
            needs="csv",
        ),
    ]


def _arrow_cases(d: Path, good: str) -> list[Case]:
    import pyarrow as pa

    table = pa.table({"emb": pa.array(GOOD_A.tolist(), pa.list_(pa.float32(), 3))})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=1)
    data = sink.getvalue().to_pybytes()
    return [
        Case(
            "arrow stream cut short",
            [_bytes(d / "cut.arrows", data[: len(data) - 40]), good],
            3,
            "broken Arrow IPC stream",
            "cut.arrows",
            needs="arrow",
        )
    ]


def _output_cases(d: Path, good: str) -> list[Case]:
    return [
        Case(
            "output in a missing directory",
            [good, good, "-o", str(d / "no" / "dir" / "out.csv")],
            3,
            "does not exist",
            str(d / "no" / "dir" / "out.csv"),
            needs="output",
            output=str(d / "no" / "dir" / "out.csv"),
        ),
        Case("output equal to an input", [good, good, "-o", good], 2, "is one of the inputs", needs="output"),
        Case(
            "output on a full device",
            [good, good, "-o", "/dev/full", "--output-format", "csv"],
            3,
            "no space left on device",
            needs="output",
        ),
    ]


BUILDERS: list[Callable[[Path, str], list[Case]]] = [
    _npy_cases,
    _parquet_cases,
    _csv_cases,
    _arrow_cases,
    _output_cases,
]


def build(directory: Path) -> list[Case]:
    directory.mkdir(parents=True, exist_ok=True)
    good = _npy(directory / "good.npy", GOOD_B)
    cases: list[Case] = []
    for builder in BUILDERS:
        sub = directory / builder.__name__.strip("_")
        sub.mkdir(exist_ok=True)
        cases.extend(builder(sub, good))
    return cases


if __name__ == "__main__":
    for case in build(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")):
        print(f"{case.exit_code}  {case.name:<32} cosloss score {' '.join(case.args)}")
