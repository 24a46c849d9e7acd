"""How deeply JSON text nests, checked before pyarrow parses it.

pyarrow's JSON parser recurses once per level of nesting and overflows the C stack (a
segmentation fault, exit 139) somewhere past 10,000 levels. Embedding files nest a few levels;
text that nests more than :data:`MAX_JSON_DEPTH` is refused as damaged. The scan is vectorised
(NumPy) and exact for valid JSON: brackets inside strings do not count, escaped quotes are
followed. It carries its state from one piece of the text to the next.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["MAX_JSON_DEPTH", "DepthScan"]

#: the deepest nesting of arrays and objects cosloss hands to pyarrow
MAX_JSON_DEPTH = 1000

_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))


class DepthScan:
    """Feed the text piece by piece; :meth:`feed` raises once it nests too deeply."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.depth = 0
        self.in_string = False
        self.backslashes = 0  # backslashes ending the previous piece (inside a string)

    def feed(self, data: bytes | memoryview) -> None:
        a = np.frombuffer(data, dtype=np.uint8)
        if not a.size:
            return
        quote = a == _QUOTE
        if quote.any():
            # A quote is escaped when an odd run of backslashes stands before it.
            backslash = a == _BACKSLASH
            positions = np.arange(a.size)
            last_other = np.maximum.accumulate(np.where(backslash, -1, positions))
            q = np.flatnonzero(quote)
            before = q - 1
            run = np.where(before >= 0, before - last_other[np.maximum(before, 0)], 0)
            run = np.where((before >= 0) & (last_other[np.maximum(before, 0)] < 0), run + self.backslashes, run)
            run = np.where(before < 0, self.backslashes, run)
            real = q[run % 2 == 0]
            toggles = np.zeros(a.size, dtype=np.int64)
            toggles[real] = 1
            inside = (np.cumsum(toggles) + int(self.in_string)) % 2 == 1
            # a bracket after an opening quote is inside; the closing quote itself toggles back
            outside = ~inside
        else:
            outside = np.full(a.size, not self.in_string)
        step = np.zeros(a.size, dtype=np.int64)
        step[np.isin(a, _OPEN) & outside] = 1
        step[np.isin(a, _CLOSE) & outside] = -1
        levels = np.cumsum(step) + self.depth
        if int(levels.max()) > MAX_JSON_DEPTH:
            raise InputError(
                f"nests JSON arrays and objects more than {MAX_JSON_DEPTH} levels deep (embeddings need a "
                "few); the file is probably damaged",
                source=self.name,
            )
        self.depth = int(levels[-1])
        self.in_string = not bool(outside[-1])
        if self.in_string:
            nonslash = np.flatnonzero(a != _BACKSLASH)
            tail = a.size - 1 - int(nonslash[-1]) if nonslash.size else a.size + self.backslashes
            self.backslashes = tail
        else:
            self.backslashes = 0
