"""Engines that run the one pipeline somewhere else than in this process (``--engine``)."""

ENGINES = ("local", "dask")
