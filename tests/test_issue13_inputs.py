"""Regression tests for the input side of issue 13 (memory, descriptors, messages, signals)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cosine_cli.cli import cli
from cosine_cli.readers import ipc_limits


def _peak_child(args: list[str], tmp_path: Path) -> tuple[int, str, float]:
    """Run ``cosloss ARGS`` in a child; its exit code, stderr without the VmHWM line, peak MiB.

    The child reports its own high-water mark: ru_maxrss from wait4 would also count this
    pytest process, whose memory the child shares between vfork and exec."""
    code = (
        f"import sys; from cosine_cli.cli import main; sys.argv = ['cosloss'] + {args!r}\n"
        "try:\n    main()\nfinally:\n"
        "    sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    with open(tmp_path / "child.out", "w") as stdout:
        proc = subprocess.run([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, text=True)
    *rest, hwm = proc.stderr.splitlines()
    return proc.returncode, "\n".join(rest), int(hwm.split()[-2]) / 1024


def _write_ipc(path: Path, batch: pa.RecordBatch, *, stream: bool, compression: str | None) -> None:
    opts = ipc.IpcWriteOptions(compression=compression)
    new = ipc.new_stream if stream else ipc.new_file
    with pa.OSFile(str(path), "wb") as f, new(f, batch.schema, options=opts) as w:
        w.write_batch(batch)


def _batch(rows: int, dim: int, seed: int = 0) -> pa.RecordBatch:
    flat = np.random.default_rng(seed).standard_normal(rows * dim).astype(np.float32)
    return pa.record_batch({"emb": pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)})


# -- 15: a record batch is refused before it is decoded when it decodes to more than the limit --


@pytest.mark.parametrize("compression", [None, "zstd", "lz4"])
@pytest.mark.parametrize("suffix", [".arrow", ".arrows"])
def test_15_batch_above_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, compression: str | None
) -> None:
    big, small = tmp_path / f"big{suffix}", tmp_path / f"small{suffix}"
    _write_ipc(big, _batch(64, 16), stream=suffix == ".arrows", compression=compression)  # 4 KiB decoded
    _write_ipc(small, _batch(8, 16), stream=suffix == ".arrows", compression=compression)
    monkeypatch.setattr(ipc_limits, "MAX_BATCH_BYTES", 4000)
    result = CliRunner().invoke(cli, ["score", str(big), str(big)])
    assert result.exit_code == 3, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "record batch of 64 rows" in result.stderr and "smaller record batches" in result.stderr
    assert str(big) in result.stderr
    ok = CliRunner().invoke(cli, ["score", str(small), str(small), "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"] == 8


def test_15_batch_size_from_the_metadata() -> None:
    batch = _batch(10, 4)
    for compression in (None, "zstd"):
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, batch.schema, options=ipc.IpcWriteOptions(compression=compression)) as w:
            w.write_batch(batch)
        messages = list(ipc.MessageReader.open_stream(sink.getvalue()))
        layout = ipc_limits.parse_message(messages[1].metadata.to_pybytes())
        assert layout is not None and layout.rows == 10 and layout.compressed == (compression is not None)
        body = messages[1].body.to_pybytes()
        size = ipc_limits.decoded_bytes(layout, lambda off, body=body: body[off : off + 8])
        assert size == 10 * 4 * 4  # the float32 values (no validity bitmap: no nulls)
        assert ipc_limits.parse_message(messages[0].metadata.to_pybytes()) is None  # the schema


@pytest.mark.slow  # writes a 2 GiB batch (a child holds it while compressing)
@pytest.mark.parametrize("suffix", [".arrows", ".arrow"])
def test_15_small_zstd_stream_of_a_2_gib_batch_stays_small(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bomb{suffix}"
    make = (
        "import sys, numpy as np, pyarrow as pa, pyarrow.ipc as ipc\n"
        "flat = pa.array(np.zeros((1 << 29), dtype=np.float32))\n"
        "b = pa.record_batch({'emb': pa.FixedSizeListArray.from_arrays(flat, 1024)})\n"
        "new = ipc.new_stream if sys.argv[1].endswith('.arrows') else ipc.new_file\n"
        "opts = ipc.IpcWriteOptions(compression='zstd')\n"
        "with pa.OSFile(sys.argv[1], 'wb') as f, new(f, b.schema, options=opts) as w:\n"
        "    w.write_batch(b)\n"
    )
    subprocess.run([sys.executable, "-c", make, str(path)], check=True)
    assert path.stat().st_size < 200_000
    code, stderr, peak = _peak_child(["score", str(path), str(path)], tmp_path)
    assert code == 3, stderr
    assert "decodes to 2.0 GiB" in stderr and stderr.count("\n") == 0
    assert peak < 300, f"peak {peak:.0f} MiB"  # the bound is 1.5 GB; before: 16 GB


@pytest.mark.slow  # two 307 MB files
def test_15_two_large_one_batch_files_peak_well_below_their_size(tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        paths.append(tmp_path / f"{seed}.arrow")
        _write_ipc(paths[-1], _batch(100_000, 768, seed), stream=False, compression=None)
    assert paths[0].stat().st_size > 300_000_000
    code, stderr, peak = _peak_child(["score", str(paths[0]), str(paths[1]), "--json"], tmp_path)
    assert code == 0, stderr
    assert json.loads((tmp_path / "child.out").read_text())["rows"] == 100_000
    assert peak < 400, f"peak {peak:.0f} MiB for 2 x 307 MB (before: 718 MiB)"


# -- 21: SIGTERM is prompt while an S3 request hangs ----------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_21_sigterm_is_prompt_while_an_s3_request_hangs(tmp_path: Path) -> None:
    import signal
    import socket
    import threading
    import time

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:  # accept, never answer; ends by itself within 60 s
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)
            accepted.set()
        for conn in held:
            conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    args = ["score", "s3://b/x.npy", "s3://b/y.npy", "--storage-option", f"endpoint_override=127.0.0.1:{port}"]
    args += ["--storage-option", "scheme=http"]
    proc = subprocess.Popen([sys.executable, "-m", "cosine_cli", *args], stderr=subprocess.PIPE, env=env)
    try:
        assert accepted.wait(30), "cosloss never connected"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
        stop.set()
        thread.join(5)
    assert proc.returncode == 143, stderr
    assert stderr.decode().strip() == "cosloss: terminated"
    assert took < 3, f"SIGTERM took {took:.1f} s (before: about 8.5 s)"


# -- fuzz findings: deep JSON nesting crashed pyarrow's parser (exit 139), h5py's RuntimeError ---


def _reference_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


json_values = st.recursive(
    st.none() | st.floats(allow_nan=False) | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[{"\\k', max_size=3), inner, max_size=2)
    ),
    max_leaves=20,
)


@given(value=json_values, cuts=st.lists(st.integers(0, 400), max_size=3))
@settings(max_examples=300, deadline=None)
def test_json_depth_scan_matches_a_reference(value: object, cuts: list[int]) -> None:
    from cosine_cli.errors import InputError
    from cosine_cli.readers import json_depth

    data = json.dumps(value).encode()
    want = _reference_depth(data.decode())
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    for limit, refused in ((want, False), (want - 1, True)):
        scan = json_depth.DepthScan("x")
        old, json_depth.MAX_JSON_DEPTH = json_depth.MAX_JSON_DEPTH, limit
        try:
            for piece in pieces:
                scan.feed(piece)
            assert not refused or want == 0
        except InputError:
            assert refused
        finally:
            json_depth.MAX_JSON_DEPTH = old


@pytest.mark.parametrize("where", ["document", "first line", "stdin", "a later line", "a later line, gzip"])
def test_deeply_nested_json_is_an_input_error(tmp_path: Path, where: str) -> None:
    deep = "[" * 30_000 + "]" * 30_000
    rows = [json.dumps({"id": i, "emb": [0.5, 0.25]}) for i in range(4)]
    if where == "document":
        path = tmp_path / "d.json"
        path.write_text("[" + ",".join(rows) + ',{"id": 9, "emb": ' + deep + "}]")
    elif where.startswith("a later line"):
        # far past the lines read at open (3 MiB of ordinary lines first): pyarrow's own reader
        # would meet it, with no Python in its loop
        many = [json.dumps({"id": i, "emb": [0.5] * 64}) for i in range(10_000)]
        text = "\n".join(many) + '\n{"id": 9, "emb": ' + deep + "}\n"
        if where.endswith("gzip"):
            path = tmp_path / "d.jsonl.gz"
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path = tmp_path / "d.jsonl"
            path.write_text(text)
    else:
        path = tmp_path / "d.jsonl"
        path.write_text('{"id": 9, "emb": ' + deep + "}\n" + "\n".join(rows) + "\n")
    args = ["score", str(path), str(path)]
    if where == "stdin":
        args = ["score", "-", str(path), "--pred-format", "json"]
    with open(path if where == "stdin" else os.devnull, "rb") as stdin:
        proc = subprocess.run([sys.executable, "-m", "cosine_cli", *args], stdin=stdin, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr  # before: 139, a segmentation fault in pyarrow
    assert "levels deep" in proc.stderr and proc.stderr.count("\n") == 1


def test_damaged_hdf5_is_an_input_error(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "e.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("emb", data=np.ones((8, 3), dtype=np.float32))
    data = bytearray(path.read_bytes())
    # the symbol table node of the root group: "SNOD" damaged gives h5py's RuntimeError
    at = data.find(b"SNOD")
    assert at > 0
    data[at : at + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["score", str(path), str(path)])
    assert result.exit_code == 3, repr(result.exception)
    assert "not a readable HDF5 file" in result.stderr and result.stderr.count("\n") == 1


# -- 20: an .npz or stdin header promising 10^15 rows; a Fortran-order array in an .npz ---------


def _npy_bytes_with_header(shape: tuple[int, ...], fortran: bool = False) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": fortran, "shape": shape})
    return buf.getvalue() + np.zeros(64, np.float32).tobytes()


@pytest.mark.parametrize("shape", [(10**15, 4), (10**15,)])
def test_20_npz_header_promising_too_many_rows(tmp_path: Path, shape: tuple[int, ...]) -> None:
    import zipfile

    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.npy", _npy_bytes_with_header(shape))
    for args in (["score", str(path), str(path)], ["inspect", str(path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3, (args, result.output)
        assert "out of memory" not in result.stderr and "--chunk-size" not in result.stderr
        assert "truncated: the header promises" in result.stderr and "archive member holds 256" in result.stderr


def test_20_stream_header_whose_chunk_cannot_be_allocated() -> None:
    import io

    from cosine_cli.errors import InputError
    from cosine_cli.readers.npy import NpySource

    # a 1-D array is one vector, read whole: a pipe's header is all there is to go by
    src = NpySource(io.BytesIO(_npy_bytes_with_header((10**15,))), "-", seekable=False)
    with pytest.raises(InputError, match="more than this machine has") as info:
        next(iter(src.chunks(10**15)))
    assert "--chunk-size" not in str(info.value)


def test_20_fortran_order_array_in_an_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cosine_cli.readers import npz

    pred = np.asfortranarray(np.random.default_rng(3).standard_normal((50, 7)).astype(np.float32))
    label = np.random.default_rng(4).standard_normal((50, 7)).astype(np.float32)
    np.savez(tmp_path / "p.npz", emb=pred)
    np.save(tmp_path / "l.npy", label)
    p64, l64 = pred.astype(np.float64), label.astype(np.float64)
    cos = (p64 * l64).sum(1) / np.linalg.norm(p64, axis=1) / np.linalg.norm(l64, axis=1)
    for args in ([str(tmp_path / "p.npz")], ["-"]):
        with open(tmp_path / "p.npz", "rb") as stdin:
            result = CliRunner().invoke(cli, ["score", *args, str(tmp_path / "l.npy"), "--json"], input=stdin)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["loss"] == pytest.approx(-cos.mean(), abs=1e-6)
    monkeypatch.setattr(npz, "MAX_FORTRAN_MEMBER_BYTES", 1000)
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "p.npz"), str(tmp_path / "l.npy")])
    assert result.exit_code == 3 and result.stderr.count("\n") == 1
    assert "Fortran-order array of 1400 bytes" in result.stderr and "C order" in result.stderr


# -- 20: ENOSPC on -o names the output -------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "npy", "arrow"])
def test_20_full_device_on_output_names_it(tmp_path: Path, fmt: str) -> None:
    rows = np.random.default_rng(5).standard_normal((50_000, 4)).astype(np.float32)
    np.save(tmp_path / "a.npy", rows)
    args = ["score", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "-o", "/dev/full", "--output-format", fmt]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert result.stderr == "Error: /dev/full: No space left on device\n"  # before: no path


def test_line_depth_check_counts_across_blocks_and_after_a_deep_line(tmp_path: Path) -> None:
    # lines are counted a block at a time: a deep line cut by block edges, and one that starts
    # right after another line with many brackets, are both found
    from cosine_cli.errors import InputError
    from cosine_cli.readers import jsonl

    block = jsonl._BLOCK
    many = '{"v": [' + ",".join(["[1]"] * 600) + "]}"  # 600 brackets, 2 levels deep: fine
    deep = '{"v": ' + "[" * 1500 + "]" * 1500 + "}"
    pad = '{"v": [' + "0," * (block // 2) + "0]}"  # a long plain line, so the deep one straddles a block edge
    for lines in ([pad, deep], [many, many, deep], [pad, many, deep, many]):
        path = tmp_path / "x.jsonl"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(InputError, match="levels deep"):
            jsonl._check_line_depths(str(path), None, "x.jsonl")
    path.write_text("\n".join([pad, many, many, pad]) + "\n")
    jsonl._check_line_depths(str(path), None, "x.jsonl")  # nothing deep: no error


def test_line_depth_check_after_an_exact_scan_counts_the_next_line_from_its_start(tmp_path: Path) -> None:
    from cosine_cli.errors import InputError
    from cosine_cli.readers import jsonl

    block = jsonl._BLOCK
    many = '{"v": [' + ",".join(["[1]"] * 1200) + "]}"  # over 1000 brackets: block 0 is scanned exactly
    deep_open, deep_close = '{"v": ' + "[" * 1500, "]" * 1500 + "}"
    head = 900  # the deep line's first 900 brackets end block 0, its other 600 start block 1
    pad_len = block - head - len('{"v": ') - len(many) - 2
    pad = '{"v": "' + "x" * (pad_len - 10) + '"}'
    text = pad + "\n" + many + "\n" + deep_open + deep_close + "\n"
    assert block - (text.index(deep_open) + len('{"v": ')) in range(850, 950)  # the straddle, as meant
    path = tmp_path / "x.jsonl"
    path.write_text(text)
    with pytest.raises(InputError, match="levels deep"):
        jsonl._check_line_depths(str(path), None, "x.jsonl")
