"""A corpus of real projects, each built by `pydistroless app` as its users would build it and
run in docker as uid 65532 on a read-only root, doing real work with its libraries.

The projects are in ``tests/corpus/`` (what each user of each kind must know is in
``docs/projects.md``); several libraries share one project to keep the time down:

- ``science``: numpy, scipy, scikit-learn, LightGBM (libgomp1 added from Debian)
- ``data``: pandas, pyarrow and polars, a parquet round trip
- ``imaging``: matplotlib renders a PNG, Pillow reads it (a tmpfs for MPLCONFIGDIR and the PNG)
- ``formats``: lxml, cryptography, shapely, pyproj, orjson, msgpack, pydantic, grpcio, protobuf
- ``postgres``: psycopg2-binary, psycopg[binary], asyncpg, SQLAlchemy against a real PostgreSQL
- ``postgres-libpq``: psycopg2 compiled from its sdist, psycopg 3 on the system's libpq
- ``ldap``: python-ldap from its sdist against a real slapd
- ``mysql``: mysqlclient from its sdist against a real MariaDB
- ``web``: Django under gunicorn and under uvicorn with uvloop; requests and httpx as clients
- ``celery``: a worker container and a sender, through a real redis
- ``uwsgi``: uWSGI from its sdist, serving a WSGI application

And the six test apps of the system pydistroless replaces (alexdmoss/distroless-python,
``tests/``), unmodified, in ``tests/corpus/distroless-python/``: each is built with only the
flags its Dockerfile's ``ENTRYPOINT``/``CMD`` stand for, and passes when what its
``scripts/tests.sh`` checks holds.

The services (PostgreSQL, redis, slapd, MariaDB) are the host's own programs, started here as
an unprivileged user in a temporary folder on a free port, and stopped after; containers reach
them with ``--network host`` (the daemon has no bridge). Nothing is pulled from a registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures import published as published_apps
from tests.fixtures.kube import deployments_api
from tests.fixtures.kube import kubeconfig as kube_config
from tests.fixtures.pubsub import publisher
from tests.fixtures.tools import describe, need_command, need_network, pydistroless

pytestmark = [pytest.mark.network, pytest.mark.docker]

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
UID = "65532"
SERVICE_START_TIMEOUT = 60
# Tags and container names of this run: another run of the suite on the same daemon has its own.
RUN = str(os.getpid())


# ---- building and running -------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    tag: str
    stderr: str  # what the build reported: the libraries added, the sdists compiled


@contextlib.contextmanager
def built(
    project: Path, tmp_path: Path, name: str, *flags: str, relative: bool = False
) -> Iterator[Built]:
    """``project`` built by the CLI into a tar and loaded into docker, as a user would:
    ``pydistroless app PROJECT -o TAR --load --tag NAME:RUN FLAGS``, with ``relative`` from
    the project's parent folder as ``pydistroless app NAME``; the tag is removed after."""
    need_network()
    tag = f"{name}:{RUN}"
    tar = tmp_path / f"{name}.tar"
    where = {"cwd": project.parent} if relative else {}
    target = project.name if relative else project
    result = pydistroless("app", target, "-o", tar, "--load", "--tag", tag, *flags, **where)
    if result.returncode != 0:
        pytest.fail(f"the build of {project.name} failed: {describe(result)}", pytrace=False)
    try:
        yield Built(tag, result.stderr)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def run_args(
    network: str = "none",
    tmpfs: Sequence[str] = (),
    env: dict[str, str] | None = None,
    entrypoint: str | None = None,
    volumes: Sequence[str] = (),
) -> list[str]:
    """``docker run`` options: uid 65532, a read-only root, a tmpfs only where named."""
    args = ["--read-only", "--user", UID, "--network", network]
    for folder in tmpfs:
        args += ["--tmpfs", f"{folder}:rw,size=64m,mode=1777"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    for volume in volumes:
        args += ["-v", volume]
    if entrypoint:
        args += ["--entrypoint", entrypoint]
    return args


def run(docker_engine, tag: str, *command: str, timeout: float = 300, **options) -> str:
    """The container's output (stdout and stderr); a non-zero exit fails the test with both."""
    argv = ["run", "--rm", *run_args(**options), tag, *command]
    result = docker_engine(*argv, check=False, timeout=timeout)
    assert result.returncode == 0, describe(result)
    return result.stdout + result.stderr


@contextlib.contextmanager
def detached(docker_engine, name: str, tag: str, *command: str, **options) -> Iterator[str]:
    """A container running in the background for the block (its name), removed after."""
    name = f"{name}-{RUN}"
    docker_engine("run", "-d", "--name", name, *run_args(**options), tag, *command)
    try:
        yield name
    finally:
        docker_engine("rm", "-f", name, check=False)


def logs(docker_engine, name: str) -> str:
    result = docker_engine("logs", name, check=False)
    return result.stdout + result.stderr


def wait_for_log(docker_engine, name: str, needle: str, deadline: float = 60) -> str:
    """The container's log once it holds ``needle``; fails with the log if it never does."""
    end = time.monotonic() + deadline
    while True:
        text = logs(docker_engine, name)
        if needle in text:
            return text
        state = docker_engine("inspect", "-f", "{{.State.Running}}", name, check=False)
        if time.monotonic() > end or state.stdout.strip() != "true":
            pytest.fail(f"{name} never logged {needle!r}; its log:\n{text[-4000:]}")
        time.sleep(0.3)


PROBE = """
import sys, time, urllib.request
url = sys.argv[1]
for _ in range(150):
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            print(answer.status, answer.reason)
            print(answer.read().decode())
            break
    except OSError as error:
        last = error
        time.sleep(0.2)
else:
    sys.exit(f"no answer from {url}: {last}")
"""


def http_get(docker_engine, tag: str, url: str, network: str) -> str:
    """GET ``url`` from a container of ``tag`` in ``network`` (another container's, to reach a
    server that binds a fixed port without touching the host's ports): status line and body."""
    return run(docker_engine, tag, "-c", PROBE, url, network=network, entrypoint="/usr/bin/python3")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lines_of(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


# ---- services: the host's own programs, as an unprivileged user -----------------------------


def service_user() -> list[str]:
    """The prefix that runs a service unprivileged: ``runuser -u nobody`` as root (PostgreSQL
    and MariaDB refuse root), nothing otherwise."""
    return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def service_folder(name: str) -> Iterator[Path]:
    """A private folder the service's user owns (pytest's own are root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=f"pydistroless-corpus-{name}-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "nobody")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_service(folder: Path) -> None:
    if os.geteuid() == 0:
        for path in [folder, *folder.rglob("*")]:
            shutil.chown(path, "nobody")


def setup(argv: Sequence[str | Path], timeout: float = 120) -> None:
    result = subprocess.run(
        [*service_user(), *map(str, argv)], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(describe(result), pytrace=False)


@contextlib.contextmanager
def service(
    argv: Sequence[str | Path], log: Path, port: int, stop: int = signal.SIGTERM
) -> Iterator[None]:
    """``argv`` in the foreground of its own session, until the block ends (``stop`` sent to
    the session); ready once its port takes connections."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*service_user(), *map(str, argv)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        end = time.monotonic() + SERVICE_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"{argv[0]} exited {process.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > end:
                pytest.fail(f"{argv[0]} did not listen on {port}:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL server of the host's own (``/usr/lib/postgresql/*/bin``), trusting local
    TCP connections; libpq's variables to reach it."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    assert found, "PostgreSQL is not installed (scripts/test installs postgresql)"
    bin_dir = found[-1].parent
    port = free_port()
    with service_folder("postgres") as folder:
        data = folder / "data"
        setup([bin_dir / "initdb", "-D", data, "-U", "corpus", "--auth=trust", "-E", "UTF8",
               "--no-sync", "--no-instructions"])  # fmt: skip
        argv = [bin_dir / "postgres", "-D", data, "-p", str(port), "-k", folder,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]  # fmt: skip
        with service(argv, folder / "log", port, stop=signal.SIGINT):  # a fast shutdown
            yield {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "corpus",
                   "PGDATABASE": "postgres"}  # fmt: skip


@pytest.fixture(scope="module")
def redis() -> Iterator[str]:
    """A redis server of the host's own, without persistence; its URL."""
    binary = need_command("redis-server")
    port = free_port()
    with service_folder("redis") as folder:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", folder]  # fmt: skip
        with service(argv, folder / "log", port):
            yield f"redis://127.0.0.1:{port}/0"


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=corpus,dc=example"
rootdn "cn=admin,dc=corpus,dc=example"
rootpw corpus-secret
directory {folder}/db
"""
BASE_LDIF = "dn: dc=corpus,dc=example\nobjectClass: dcObject\nobjectClass: organization\n"
BASE_LDIF += "dc: corpus\no: corpus\n"


@pytest.fixture(scope="module")
def slapd() -> Iterator[dict[str, str]]:
    """OpenLDAP's slapd of the host's own: one mdb database holding its base entry."""
    binary = need_command("slapd")
    slapadd = need_command("slapadd")
    port = free_port()
    with service_folder("slapd") as folder:
        (folder / "db").mkdir()
        (folder / "slapd.conf").write_text(SLAPD_CONF.format(folder=folder))
        (folder / "base.ldif").write_text(BASE_LDIF)
        as_service(folder)
        setup([slapadd, "-f", folder / "slapd.conf", "-l", folder / "base.ldif"])
        argv = [binary, "-f", folder / "slapd.conf", "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"]
        with service(argv, folder / "log", port):
            yield {
                "LDAP_URI": f"ldap://127.0.0.1:{port}",
                "LDAP_BASE": "dc=corpus,dc=example",
                "LDAP_BIND_DN": "cn=admin,dc=corpus,dc=example",
                "LDAP_PASSWORD": "corpus-secret",
            }


@pytest.fixture(scope="module")
def mariadb() -> Iterator[dict[str, str]]:
    """A MariaDB server of the host's own, its root without a password, one database."""
    install = need_command("mariadb-install-db")
    server = need_command("mariadbd")
    client = need_command("mariadb")
    port = free_port()
    with service_folder("mariadb") as folder:
        setup([install, "--no-defaults", f"--datadir={folder / 'data'}", "--skip-test-db",
               "--auth-root-authentication-method=normal", "--skip-name-resolve"])  # fmt: skip
        argv = [server, "--no-defaults", f"--datadir={folder / 'data'}", f"--port={port}",
                "--bind-address=127.0.0.1", f"--socket={folder / 'socket'}",
                f"--pid-file={folder / 'pid'}", "--skip-name-resolve", "--skip-log-bin",
                "--innodb-buffer-pool-size=16M"]  # fmt: skip
        with service(argv, folder / "log", port):
            setup([client, "-h127.0.0.1", f"-P{port}", "-uroot", "-e", "CREATE DATABASE corpus"])
            yield {"MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": str(port), "MYSQL_USER": "root",
                   "MYSQL_DATABASE": "corpus"}  # fmt: skip


# ---- the corpus -----------------------------------------------------------------------------


def test_science(tmp_path: Path, docker_engine) -> None:
    """numpy, scipy, scikit-learn and LightGBM: three models fitted and scored; LightGBM's
    libgomp (OpenMP) comes from Debian."""
    with built(CORPUS / "science", tmp_path, "corpus-science") as image:
        assert re.search(r"added libgomp1 for .*lightgbm", image.stderr), image.stderr
        out = run(docker_engine, image.tag)
    residual = float(lines_of(out, "scipy ")[0].split()[-1])
    assert residual < 1e-9, out
    assert "scipy minimum at 3.500" in out, out
    for model in ("logistic", "forest", "lightgbm"):
        (line,) = lines_of(out, f"{model} accuracy ")
        assert float(line.split()[-1]) > 0.85, out


def test_data_parquet_round_trip(tmp_path: Path, docker_engine) -> None:
    """pandas writes parquet through pyarrow (zstd), pyarrow and polars read it back."""
    with built(CORPUS / "data", tmp_path, "corpus-data") as image:
        out = run(docker_engine, image.tag)
    assert re.search(r"^parquet \d+ bytes, magic PAR1$", out, re.M), out
    assert re.search(r"^pyarrow \S+ rows 6 max 31.0$", out, re.M), out
    assert lines_of(out, "polars ") == [
        "polars Lima 20.00",
        "polars Oslo 3.33",
        "polars Pune 31.00",
    ]
    assert re.search(r"^pandas \S+ equal True$", out, re.M), out


def test_imaging_renders_a_png_on_a_tmpfs(tmp_path: Path, docker_engine) -> None:
    """matplotlib draws a chart into a PNG, Pillow opens it, blurs it and writes WebP and JPEG.
    The read-only root needs one tmpfs: matplotlib's config and font cache (MPLCONFIGDIR)
    and the files written go to /tmp."""
    with built(CORPUS / "imaging", tmp_path, "corpus-imaging") as image:
        out = run(
            docker_engine, image.tag, tmpfs=["/tmp"],
            env={"MPLCONFIGDIR": "/tmp/matplotlib", "OUTPUT": "/tmp/chart.png"},
        )  # fmt: skip
    assert re.search(r"^matplotlib \S+ wrote /tmp/chart.png$", out, re.M), out
    assert "pillow PNG 400x300 RGBA" in out.splitlines(), out
    low, high = map(int, re.search(r"grey extrema \((\d+), (\d+)\)", out).groups())  # type: ignore[union-attr]
    assert low < 100 < high, out  # a drawn chart, not a blank page
    assert re.search(r"^pillow blurred extrema \(\d+, \d+\)$", out, re.M), out
    assert "pillow WEBP 64x48 RGB" in out.splitlines(), out
    assert "pillow JPEG 64x48 RGB" in out.splitlines(), out


def test_formats_xml_crypto_geo_serialisers_grpc(tmp_path: Path, docker_engine) -> None:
    with built(CORPUS / "formats", tmp_path, "corpus-formats") as image:
        out = run(docker_engine, image.tag)
    expected = [
        "lxml total 8 items 2",
        "cryptography cert CN=corpus.example fernet 'attack at dawn'",
        "pyproj utm31 500000 5649825",
        'orjson {"id":7,"ok":true}',
        "msgpack 15 bytes {'id': 7, 'tags': ['a', 'b']}",
        "pydantic id 7 invalid id",
    ]
    for line in expected:
        assert line in out.splitlines(), out
    assert re.search(r"^shapely \S+ circle area 3.141$", out, re.M), out
    assert re.search(r"^grpc \S+ reply HELLO$", out, re.M), out


def test_postgres_every_driver(tmp_path: Path, docker_engine, postgres) -> None:
    """psycopg2-binary, psycopg[binary], asyncpg and SQLAlchemy against a real server."""
    with built(CORPUS / "postgres", tmp_path, "corpus-postgres") as image:
        out = run(docker_engine, image.tag, network="host", env=postgres)
    assert re.search(r"^psycopg2 \S+ sum 12$", out, re.M), out
    assert re.search(r"^psycopg \S+ binary count 3 server 1\d", out, re.M), out
    assert re.search(r"^asyncpg \S+ names apple,pear,plum$", out, re.M), out
    assert re.search(r"^sqlalchemy \S+ dear pear,plum$", out, re.M), out


def test_postgres_on_the_system_libpq(tmp_path: Path, docker_engine, postgres) -> None:
    """psycopg2 compiled from its sdist against Debian's libpq (found from Debian's own
    source package of it), and psycopg 3's Python implementation loading libpq with ctypes:
    libpq5 and everything it loads come from Debian."""
    with built(CORPUS / "postgres-libpq", tmp_path, "corpus-postgres-libpq") as image:
        assert "added libpq5" in image.stderr, image.stderr
        out = run(docker_engine, image.tag, network="host", env=postgres)
    assert re.search(r"^psycopg2 \S+ libpq \d+ answer 42 server 1\d", out, re.M), out
    assert re.search(r"^psycopg \S+ python libpq \d+ answer 42$", out, re.M), out


def test_ldap_from_its_sdist_against_slapd(tmp_path: Path, docker_engine, slapd) -> None:
    with built(CORPUS / "ldap", tmp_path, "corpus-ldap") as image:
        out = run(docker_engine, image.tag, network="host", env=slapd)
    assert re.search(
        r"^ldap \S+ found cn=Ada Lovelace,dc=corpus,dc=example: first programmer$", out, re.M
    ), out
    assert "ldap whoami dn:cn=admin,dc=corpus,dc=example" in out.splitlines(), out


def test_mysqlclient_from_its_sdist_against_mariadb(tmp_path: Path, docker_engine, mariadb) -> None:
    with built(CORPUS / "mysql", tmp_path, "corpus-mysql") as image:
        out = run(docker_engine, image.tag, network="host", env=mariadb)
    assert re.search(r"^mysqlclient \(\d+, \d+, \d+\) moons 3 server \S+MariaDB", out, re.M), out


def test_web_django_under_gunicorn_and_uvicorn(tmp_path: Path, docker_engine) -> None:
    """One Django site, served by gunicorn (the image's entrypoint; its heartbeat files in
    /dev/shm) and by uvicorn with uvloop and httptools; requests and httpx in a third
    container fetch both pages."""
    with built(CORPUS / "web", tmp_path, "corpus-web") as image:
        config = json.loads(
            docker_engine("image", "inspect", "--format", "{{json .Config}}", image.tag).stdout
        )
        assert config["Entrypoint"] == ["gunicorn"], config
        wsgi, asgi = free_port(), free_port()
        gunicorn = ["--bind", f"127.0.0.1:{wsgi}", "--workers", "2", "--worker-tmp-dir",
                    "/dev/shm", "shop.wsgi"]  # fmt: skip
        uvicorn = ["shop.asgi:application", "--host", "127.0.0.1", "--port", str(asgi),
                   "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
        by_uvicorn = {"network": "host", "entrypoint": "/usr/local/bin/uvicorn"}
        with (
            detached(docker_engine, "corpus-wsgi", image.tag, *gunicorn, network="host") as gun,
            detached(docker_engine, "corpus-asgi", image.tag, *uvicorn, **by_uvicorn) as uvi,
        ):  # fmt: skip
            wait_for_log(docker_engine, gun, "Booting worker")
            wait_for_log(docker_engine, uvi, "Uvicorn running")
            urls = [f"http://127.0.0.1:{wsgi}/", f"http://127.0.0.1:{asgi}/"]
            out = run(docker_engine, image.tag, "/app/client.py", *urls, network="host",
                      entrypoint="/usr/bin/python3")  # fmt: skip
            assert "Traceback" not in logs(docker_engine, gun)
    for client in ("requests", "httpx"):
        assert re.search(rf"^{client} \S+ {urls[0]} asyncio$", out, re.M), out
        assert re.search(rf"^{client} \S+ {urls[1]} uvloop$", out, re.M), out


def test_celery_task_through_redis(tmp_path: Path, docker_engine, redis) -> None:
    """A worker container and the project's sender (its main) meet through a real redis,
    broker and result backend both. Built as ``pydistroless app celery`` from its parent
    folder: a project named by a relative path."""
    with built(CORPUS / "celery", tmp_path, "corpus-celery", relative=True) as image:
        worker = ["-A", "tasks", "worker", "--pool", "solo", "--without-gossip",
                  "--without-mingle", "--loglevel", "INFO"]  # fmt: skip
        with detached(
            docker_engine, "corpus-celery-worker", image.tag, *worker, network="host",
            env={"REDIS_URL": redis}, entrypoint="/usr/local/bin/celery",
        ) as name:  # fmt: skip
            wait_for_log(docker_engine, name, "ready.")
            out = run(docker_engine, image.tag, network="host", env={"REDIS_URL": redis})
            worker_log = wait_for_log(docker_engine, name, "succeeded in")
    assert re.search(r"^celery \S+ sum 42 from \S+$", out, re.M), out
    assert "Task tasks.add[" in worker_log, worker_log


def test_uwsgi_from_its_sdist_serves_wsgi(tmp_path: Path, docker_engine) -> None:
    """uWSGI compiled from its sdist, with Python embedded: as the entrypoint, serving the
    project's WSGI file over HTTP (--http-socket: no router process), on a read-only root."""
    flags = ["--entrypoint", "uwsgi", "--cmd",
             "--http-socket 0.0.0.0:8000 --wsgi-file /app/app.py --master --processes 2 "
             "--need-app --die-on-term --strict"]  # fmt: skip
    with built(CORPUS / "uwsgi", tmp_path, "corpus-uwsgi", *flags) as image:
        port = free_port()
        command = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", "/app/app.py", "--master",
                   "--processes", "2", "--need-app", "--die-on-term", "--strict"]  # fmt: skip
        with detached(docker_engine, "corpus-uwsgi", image.tag, *command, network="host"):
            out = http_get(docker_engine, image.tag, f"http://127.0.0.1:{port}/corpus", "host")
    assert out.splitlines()[0] == "200 OK", out
    assert re.search(r"^uwsgi \S+ python 3\.\d+\.\d+ /corpus$", out, re.M), out


# ---- the six test apps of alexdmoss/distroless-python, as published -------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tests/`` folder of alexdmoss/distroless-python as published (see the README
    beside the archive): the six apps, byte for byte."""
    return published_apps.unpack(tmp_path_factory.mktemp("published"))


def test_published_hello_world(tmp_path: Path, docker_engine, published: Path) -> None:
    """``CMD ["hello.py"]`` on a bare base; tests.sh: the output has ``hello there``."""
    with built(
        published / "hello-world", tmp_path, "published-hello", "--main", "hello.py"
    ) as image:
        out = run(docker_engine, image.tag)
    assert "hello there" in out


def test_published_gunicorn(tmp_path: Path, docker_engine, published: Path) -> None:
    """poetry.lock; ``ENTRYPOINT ["python", "run.py", "-b", "0.0.0.0:5000", "app:app"]``;
    tests.sh: ``200 OK`` and ``flask/gunicorn`` from port 5000. run.py gives gunicorn no
    --worker-tmp-dir, so its heartbeat files need a tmpfs at /tmp on a read-only root."""
    entrypoint = '["python3", "run.py", "-b", "0.0.0.0:5000", "app:app"]'
    with (
        built(
            published / "gunicorn", tmp_path, "published-gunicorn", "--entrypoint", entrypoint
        ) as image,  # fmt: skip
        detached(docker_engine, "published-gunicorn", image.tag, tmpfs=["/tmp"]) as name,
    ):
        out = http_get(docker_engine, image.tag, "http://127.0.0.1:5000/", f"container:{name}")
    assert "200 OK" in out and "flask/gunicorn" in out, out


def test_published_fastapi(tmp_path: Path, docker_engine, published: Path) -> None:
    """uv.lock; ``ENTRYPOINT ["python", "run.py"]`` (uvicorn.run on 0.0.0.0:5000); tests.sh:
    ``200 OK`` and ``I am alive``."""
    with (
        built(published / "fastapi", tmp_path, "published-fastapi", "--main", "run.py") as image,
        detached(docker_engine, "published-fastapi", image.tag) as name,
    ):
        out = http_get(docker_engine, image.tag, "http://127.0.0.1:5000/", f"container:{name}")
    assert "200 OK" in out and "I am alive" in out, out


def test_published_pandas(tmp_path: Path, docker_engine, published: Path) -> None:
    """requirements.txt (pandas, its own index line); ``CMD ["bamboo.py"]``; tests.sh: the
    output has ``The Mainframe says: 2``."""
    with built(published / "pandas", tmp_path, "published-pandas", "--main", "bamboo.py") as image:
        out = run(docker_engine, image.tag)
    assert "The Mainframe says: 2" in out


def test_published_google_cloud(tmp_path: Path, docker_engine, published: Path) -> None:
    """uv.lock (and a requirements.txt beside it); ``ENTRYPOINT ["python", "main.py"]``;
    tests.sh: against the Pub/Sub emulator, the output has ``Topic [projects/made-up-project/
    topics/alexos-distroless-python-test]`` (here: the stand-in of tests/fixtures/pubsub.py)."""
    with (
        built(published / "google-cloud", tmp_path, "published-google-cloud") as image,
        publisher() as server,
    ):
        out = run(docker_engine, image.tag, network="host",
                  env={"PUBSUB_EMULATOR_HOST": server.host})  # fmt: skip
    topic = "projects/made-up-project/topics/alexos-distroless-python-test"
    assert f"Topic [{topic}]" in out, out
    assert server.created == [topic] and server.deleted == [topic]


def test_published_kubernetes(tmp_path: Path, docker_engine, published: Path) -> None:
    """Pipfile.lock; ``ENTRYPOINT ["python", "app.py", "--namespace", "default"]``; tests.sh
    (in kind, read-only root): its log has ``Event: MODIFIED distroless-python-test-...``.
    Here the API server is the stand-in of tests/fixtures/kube.py, named by a kubeconfig."""
    entrypoint = '["python3", "app.py", "--namespace", "default"]'
    deployment = "distroless-python-test-3.13-debian13"
    with (
        built(
            published / "kubernetes", tmp_path, "published-kubernetes", "--entrypoint", entrypoint
        ) as image,  # fmt: skip
        deployments_api([deployment]) as api,
    ):
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(kube_config(api.url))
        kubeconfig.chmod(0o644)
        with detached(
            docker_engine, "published-kubernetes", image.tag, network="host",
            env={"KUBECONFIG": "/etc/kube/config"}, volumes=[f"{kubeconfig}:/etc/kube/config:ro"],
        ) as name:  # fmt: skip
            out = wait_for_log(docker_engine, name, f"Event: MODIFIED {deployment}")
    assert "Listing deployments for [default]" in out, out
    assert api.watches, "the client never watched"
