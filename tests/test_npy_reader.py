"""The .npy reader's memory map: a file cut short while it is read is an input error."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cosine_cli.errors import InputError
from cosine_cli.readers.npy import NpySource


def test_a_file_cut_short_while_being_read_is_an_error_not_sigbus(tmp_path: Path) -> None:
    # a writer replacing the file in place: touching the missing pages of the memory map would be
    # a SIGBUS (the process dies); the reader looks at the file's size before each chunk
    path = tmp_path / "a.npy"
    np.save(path, np.ones((10_000, 64), dtype=np.float32))
    src = NpySource.open(path)
    try:
        chunks = src.chunks(1000)
        first = next(chunks)
        assert first.shape == (1000, 64)
        os.truncate(path, os.path.getsize(path) // 2)
        with pytest.raises(InputError, match="truncated while being read") as info:
            for _ in chunks:
                pass
        assert info.value.row is not None and 1000 <= int(info.value.row) <= 5000
    finally:
        src.close()
