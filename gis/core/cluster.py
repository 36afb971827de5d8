"""The embedded PostgreSQL + PostGIS + pgRouting cluster under ``.gridpatrol/``.

With no ``DATABASE_URL`` gridpatrol runs its own cluster from the Debian packages
(``postgresql-15-postgis-3``, ``postgresql-15-pgrouting``): ``initdb`` on first use, ``pg_ctl``
to start and stop it, TCP on a free loopback port remembered in ``cluster.json``. PostgreSQL
refuses to run as root, so as root every server command runs as the ``postgres`` user.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from gis.core.errors import DatabaseUnavailable

PG_MAJOR = 15
DATABASE_NAME = "gridpatrol"
INSTALL_HINT = (
    "install it with: sudo apt-get install postgresql-15 postgresql-15-postgis-3 "
    "postgresql-15-pgrouting   (or run ./scripts/setup.sh, which does this)"
)


@dataclass(frozen=True)
class ClusterStatus:
    """What ``gridpatrol db status`` reports."""

    home: Path
    initialised: bool
    running: bool
    port: int | None
    url: str | None


def find_bindir() -> Path:
    """Directory holding ``initdb``/``pg_ctl`` of PostgreSQL 15."""
    debian = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
    if (debian / "pg_ctl").exists():
        return debian
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise DatabaseUnavailable(f"PostgreSQL {PG_MAJOR} server is not installed: {INSTALL_HINT}")


def check_extensions_installed(bindir: Path, *, sharedir: Path | None = None) -> None:
    """Fail early, with the install command, when PostGIS or pgRouting is missing."""
    if sharedir is None:
        sharedir = _sharedir(bindir)
    for extension, package in (
        ("postgis", "postgresql-15-postgis-3"),
        ("pgrouting", "postgresql-15-pgrouting"),
    ):
        if not (sharedir / "extension" / f"{extension}.control").exists():
            raise DatabaseUnavailable(
                f"The {extension} extension ({package}) is not installed: {INSTALL_HINT}"
            )


def _sharedir(bindir: Path) -> Path:
    sharedir = Path(f"/usr/share/postgresql/{PG_MAJOR}")
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run(
            [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            sharedir = Path(out.stdout.strip())
    return sharedir


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(argv: list[str]) -> list[str]:
    """Prefix a server command so it runs as ``postgres`` when we are root."""
    if _running_as_root():
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _give_to_server_user(path: Path) -> None:
    if not _running_as_root():
        return
    entry = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedCluster:
    """A PostgreSQL cluster owned by gridpatrol in ``home``.

    ``durable=False`` turns off fsync and friends: for throwaway test clusters only.
    """

    def __init__(self, home: Path, *, durable: bool = True) -> None:
        self.home = home.absolute()
        self.durable = durable
        self.pgdata = self.home / "pgdata"
        self.logfile = self.home / "log" / "postgres.log"
        self.state_file = self.home / "cluster.json"

    # -- state ---------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def port(self) -> int | None:
        if not self.state_file.exists():
            return None
        return int(json.loads(self.state_file.read_text())["port"])

    @property
    def url(self) -> str:
        if self.port is None:
            raise DatabaseUnavailable(
                "The embedded cluster is not initialised: run `gridpatrol db up`"
            )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = _as_server_user([str(find_bindir() / "pg_ctl"), "-D", str(self.pgdata), *args])
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            log_tail = self._log_tail()
            raise DatabaseUnavailable(
                f"pg_ctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}"
                + (f"\nserver log:\n{log_tail}" if log_tail else "")
            )
        return result

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-15:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        if not self.initialised:
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def status(self) -> ClusterStatus:
        running = self.running
        return ClusterStatus(
            home=self.home,
            initialised=self.initialised,
            running=running,
            port=self.port,
            url=self.url if self.port is not None else None,
        )

    # -- lifecycle -----------------------------------------------------------------------
    def _write_config(self, port: int) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            # No Unix socket: /var/run/postgresql may not be ours, and long paths break sockets.
            "unix_socket_directories": "''",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "work_mem": "'64MB'",
            "maintenance_work_mem": "'512MB'",
            # JIT compiles slower than it saves on our short, index-driven queries.
            "jit": "off",
            "timezone": "'UTC'",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        conf = self.pgdata / "gridpatrol.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        main_conf = self.pgdata / "postgresql.conf"
        text = main_conf.read_text()
        if "include_if_exists = 'gridpatrol.conf'" not in text:
            main_conf.write_text(text + "\ninclude_if_exists = 'gridpatrol.conf'\n")
        self.state_file.write_text(json.dumps({"port": port}))
        _give_to_server_user(self.pgdata)

    def init(self) -> None:
        """Create the cluster directory with ``initdb`` (once)."""
        bindir = find_bindir()
        check_extensions_installed(bindir)
        if self.initialised:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.touch()
        if _running_as_root():
            # The server user must be able to walk into home; refuse clearly if a parent blocks it.
            os.chmod(self.home, 0o755)
            _give_to_server_user(self.pgdata)
            _give_to_server_user(self.logfile.parent)
            probe = subprocess.run(_as_server_user(["test", "-w", str(self.pgdata)]), check=False)
            if probe.returncode != 0:
                raise DatabaseUnavailable(
                    f"The postgres user cannot write {self.pgdata} (a parent directory is closed "
                    "to it). Set GRIDPATROL_HOME to a directory it can reach, e.g. "
                    "/var/lib/gridpatrol."
                )
        argv = _as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise DatabaseUnavailable(f"initdb failed: {result.stderr.strip()}")
        self._write_config(_free_port())

    def start(self) -> str:
        """Initialise if needed, start if stopped, create the database; return its URL."""
        self.init()
        if not self.running:
            port = self.port
            if port is None or _port_in_use(port):
                port = _free_port()
                self._write_config(port)
            self._pg_ctl("-l", str(self.logfile), "-w", "-t", "60", "start")
        self._wait_ready()
        self._create_database()
        return self.url

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown)."""
        if self.running:
            self._pg_ctl("-m", "fast", "-w", "stop")

    def _admin_dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self._admin_dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(
                        f"The embedded cluster did not accept connections: {exc}"
                    ) from exc
                time.sleep(0.2)

    def _create_database(self) -> None:
        with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def destroy(self) -> None:
        """Stop the server and delete its files (test clusters)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
