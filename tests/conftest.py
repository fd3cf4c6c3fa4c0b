"""Shared test setup: the golden-file update flag, the GPU skip, a throwaway PostgreSQL server."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite golden files from the current output instead of comparing.",
    )


@pytest.fixture
def update_goldens(request) -> bool:
    return request.config.getoption("--update-goldens")


@pytest.fixture
def fixture_copy(tmp_path):
    """Copy a folder or file from tests/fixtures into tmp_path and return the copy."""

    def copy(name: str) -> Path:
        source = FIXTURES / name
        target = tmp_path / Path(name).name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return target

    return copy


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL 15 server (initdb + pg_ctl as user nobody): its base URL."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)")
    # not under pytest's own tmp folder: that is private to root, and the server runs as nobody
    root = Path(tempfile.mkdtemp(prefix="mmexam-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    for path in (root, sock):
        shutil.chown(path, "nobody", "nogroup")
        os.chmod(path, 0o755)
    user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if os.getuid() != 0:
        user = []
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(root)}
    subprocess.run(
        [
            *user,
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "mmexam",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = f"-k {sock} -p {port} -c listen_addresses='' -c fsync=on -c max_connections=200"
    subprocess.run(
        [
            *user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(root / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    url = f"postgresql://mmexam@/postgres?host={sock}&port={port}"
    try:
        yield {"url": url, "sock": sock, "port": port, "user": user, "env": env}
    finally:
        subprocess.run(
            [*user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            env=env,
        )
        shutil.rmtree(root, ignore_errors=True)


_databases = iter(range(1, 10_000))


def new_pg_database(postgres) -> str:
    """A fresh database on the throwaway server: its URL."""
    import psycopg

    name = f"exam{next(_databases)}_{os.getpid()}"
    with psycopg.connect(
        f"host={postgres['sock']} port={postgres['port']} user=mmexam dbname=postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://mmexam@/{name}?host={postgres['sock']}&port={postgres['port']}"


@pytest.fixture
def pg_database(postgres) -> str:
    """A fresh database on the throwaway PostgreSQL server: its URL."""
    return new_pg_database(postgres)
