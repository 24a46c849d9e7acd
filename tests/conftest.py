from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def sample() -> Path:
    return SAMPLE


# -- object storage and Dask (tests/test_remote.py, tests/test_dask_engine.py) ----------------------


@pytest.fixture(scope="session")
def s3_server() -> object:
    """A real S3-compatible server (moto's server mode) on loopback; yields storage options for it."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_override": f"{host}:{port}", "scheme": "http", "region": "us-east-1",
               "access_key": "testing", "secret_key": "testing"}
    yield options
    server.stop()


@pytest.fixture(scope="session")
def dask_client() -> object:
    """Two single-threaded worker processes on loopback, shared by the session's Dask tests."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
