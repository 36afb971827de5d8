"""The embedded PostgreSQL + PostGIS + pgRouting cluster for development, in the home.

With no ``DATABASE_URL`` the command line runs its own cluster from the Debian packages
(``postgresql-15-postgis-3``, ``postgresql-15-pgrouting``): ``initdb`` on first use, ``pg_ctl``
to start and stop it, TCP on a free loopback port remembered in ``cluster.json``. PostgreSQL
refuses to run as root, so as root every server command runs as the ``postgres`` user. It
lives here, in the command-line layer, not in the domain: the API and the domain only ever
connect to ``DATABASE_URL`` and never start a server (``gridpatrol serve`` starts this one,
hands its URL on and watches it, ``cli/supervisor.py``).

The home is ``GRIDPATROL_HOME``, else the checkout's ``.gridpatrol/`` or the user's data
directory (``gis.core.settings.default_home``): never the working directory.

Nobody gets in without the password. ``initdb`` runs with ``scram-sha-256`` and a generated
password that is kept in ``password`` (0600) in the cluster's home, and ``pg_hba.conf`` allows
only password logins over loopback TCP. We keep TCP rather than a Unix socket in a private
directory because every client (SQLAlchemy, psql, the tests) already speaks TCP, socket paths
under a deep ``GRIDPATROL_HOME`` exceed the 107-byte limit, and a password protects the port
even from local users who can reach it. The home is private: 0700 when we run as an ordinary
user (the server runs as us). As root the server runs as ``postgres``, which must pass through
the home to reach its data directory, so the home is 0710 root:postgres: the group may
traverse it but not list it or read ``password``/``cluster.json`` (0600, root's), and nobody
else gets in. ``cluster.json`` and the password are 0600. A cluster made by an older
gridpatrol with ``trust`` authentication is moved to a password on ``start``
(``gridpatrol db up``), not broken.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from gis.core.errors import DatabaseUnavailable
from gis.core.private_files import PRIVATE_DIR_MODE, read_nofollow, write_private

PG_MAJOR = 15
DATABASE_NAME = "gridpatrol"
SUPERUSER = "postgres"
INSTALL_HINT = (
    "install it with: sudo apt-get install postgresql-15 postgresql-15-postgis-3 "
    "postgresql-15-pgrouting   (or run ./scripts/setup.sh, which does this)"
)
# The home's mode: private; as root the server user's group may pass through (see above).
HOME_MODE = PRIVATE_DIR_MODE
ROOT_HOME_MODE = 0o710
# Password logins over loopback only; no Unix socket, no replication, no trust.
PG_HBA = """\
# Written by gridpatrol: password (SCRAM) logins over loopback TCP only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""
MASKED_PASSWORD = "***"


@dataclass(frozen=True)
class ClusterStatus:
    """What ``gridpatrol db status`` reports (the URL with its password masked)."""

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


def _server_user_ids() -> tuple[int, int] | None:
    """uid/gid the server files belong to: ``postgres`` as root, else ours (None: no change)."""
    if not _running_as_root():
        return None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def give_to_server_user(path: Path) -> None:
    """As root, hand ``path`` and what it holds to ``postgres``.

    Symlinks are skipped and never followed: the server user can plant one in its own data
    directory, and a chown through it would hand root's files (``/etc/shadow``) to postgres.
    """
    ids = _server_user_ids()
    if ids is None or path.is_symlink():
        return
    os.chown(path, *ids, follow_symlinks=False)
    # os.walk does not descend into symlinked directories (followlinks=False).
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = os.path.join(root, name)
            if not stat.S_ISLNK(os.lstat(entry).st_mode):
                os.chown(entry, *ids, follow_symlinks=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _process_state(pid: int) -> tuple[str | None, str | None]:
    """A process's state letter (``R``, ``S``, ``Z``…) and command name from ``/proc``;
    (None, None) when there is no such process."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    # "pid (comm) state …": the command may hold spaces and parentheses.
    head, _, tail = stat_line.rpartition(")")
    fields = tail.split()
    return (fields[0] if fields else None), head.partition("(")[2]


def _auth_methods(pg_hba: str) -> set[str]:
    """The authentication methods a ``pg_hba.conf`` uses (last word of each rule)."""
    methods = set()
    for line in pg_hba.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            # Options such as ``clientcert=…`` follow the method; we write none.
            methods.add(next(w for w in reversed(words) if "=" not in w))
    return methods


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
        self.password_file = self.home / "password"

    # -- state ---------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    @property
    def port(self) -> int | None:
        if not self.state_file.exists():
            return None
        return int(json.loads(read_nofollow(self.state_file))["port"])

    @property
    def password(self) -> str:
        """The superuser's password (from the 0600 file in the home)."""
        try:
            return read_nofollow(self.password_file).strip()
        except FileNotFoundError:
            raise DatabaseUnavailable(
                f"The embedded cluster's password file {self.password_file} is missing: "
                "run `gridpatrol db up`"
            ) from None

    def _url(self, userinfo_password: str) -> str:
        if self.port is None:
            raise DatabaseUnavailable(
                "The embedded cluster is not initialised: run `gridpatrol db up`"
            )
        return (
            f"postgresql+psycopg://{SUPERUSER}:{userinfo_password}@127.0.0.1:{self.port}"
            f"/{DATABASE_NAME}"
        )

    @property
    def url(self) -> str:
        """The URL with the password: for connecting, never for printing (see ``masked_url``)."""
        return self._url(quote(self.password, safe=""))

    @property
    def masked_url(self) -> str:
        """The URL with the password replaced by ``***``: safe for logs and status output."""
        return self._url(MASKED_PASSWORD)

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
            return "\n".join(read_nofollow(self.logfile).splitlines()[-15:])
        except (OSError, UnicodeDecodeError):
            return ""

    def postmaster_pid(self) -> int | None:
        """The process id ``postmaster.pid`` names (None: no such file)."""
        try:
            return int(read_nofollow(self.pgdata / "postmaster.pid").split()[0])
        except (OSError, ValueError, IndexError, UnicodeDecodeError):
            return None

    def postmaster_alive(self) -> bool:
        """Whether the postmaster ``postmaster.pid`` names runs: a check cheap enough to repeat
        every second (no subprocess; ``running`` asks ``pg_ctl``). A killed postmaster not yet
        reaped by its parent (a zombie) is dead, and so is a pid reused by another program."""
        pid = self.postmaster_pid()
        if pid is None:
            return False
        state, command = _process_state(pid)
        return state not in (None, "Z", "X") and command == "postgres"

    def postmaster_exited(self) -> bool:
        """Whether no process holds the pid of ``postmaster.pid`` any more (a killed postmaster
        is reaped): until then PostgreSQL refuses to start on the data directory."""
        pid = self.postmaster_pid()
        return pid is None or _process_state(pid)[0] is None

    @property
    def running(self) -> bool:
        if not self.initialised:
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def status(self) -> ClusterStatus:
        running = self.running
        port = self.port
        return ClusterStatus(
            home=self.home,
            initialised=self.initialised,
            running=running,
            port=port,
            url=self.masked_url if port is not None else None,
        )

    # -- files ---------------------------------------------------------------------------
    def _secure_home(self) -> None:
        """Make the home private; as root let only the server user's group pass through it."""
        self.home.mkdir(parents=True, exist_ok=True)
        ids = _server_user_ids()
        if ids is None:
            os.chmod(self.home, HOME_MODE)
        else:
            os.chown(self.home, 0, ids[1], follow_symlinks=False)
            os.chmod(self.home, ROOT_HOME_MODE)
        for private in (self.state_file, self.password_file):
            if private.exists() and not private.is_symlink():
                os.chmod(private, 0o600)

    def _write_server_file(self, name: str, text: str) -> None:
        """Write a file in the data directory, owned by the server user, never via a symlink."""
        write_private(self.pgdata / name, text, owner=_server_user_ids())

    def _write_config(self, port: int) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            # No Unix socket: /var/run/postgresql may not be ours, and long paths break sockets.
            "unix_socket_directories": "''",
            "password_encryption": "'scram-sha-256'",
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
        self._write_server_file(
            "gridpatrol.conf", "".join(f"{key} = {value}\n" for key, value in settings.items())
        )
        text = read_nofollow(self.pgdata / "postgresql.conf")
        if "include_if_exists = 'gridpatrol.conf'" not in text:
            self._write_server_file(
                "postgresql.conf", text + "\ninclude_if_exists = 'gridpatrol.conf'\n"
            )
        write_private(self.state_file, json.dumps({"port": port}))

    # -- lifecycle -----------------------------------------------------------------------
    def init(self) -> None:
        """Create the cluster directory with ``initdb`` (once), with a generated password."""
        bindir = find_bindir()
        check_extensions_installed(bindir)
        self._secure_home()
        if self.initialised:
            return
        self.pgdata.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        self.logfile.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        self.logfile.touch()
        if _running_as_root():
            give_to_server_user(self.pgdata)
            give_to_server_user(self.logfile.parent)
            probe = subprocess.run(_as_server_user(["test", "-w", str(self.pgdata)]), check=False)
            if probe.returncode != 0:
                raise DatabaseUnavailable(
                    f"The postgres user cannot write {self.pgdata} (a parent directory is closed "
                    "to it). Set GRIDPATROL_HOME to a directory it can reach, e.g. "
                    "/var/lib/gridpatrol."
                )
        password = secrets.token_urlsafe(32)
        write_private(self.password_file, password + "\n")
        # initdb reads the password from a file the server user owns; removed right after.
        pwfile = self.home / f".initdb-{secrets.token_hex(6)}"
        write_private(pwfile, password + "\n", owner=_server_user_ids())
        argv = _as_server_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise DatabaseUnavailable(f"initdb failed: {result.stderr.strip()}")
        # Not in _write_config: an old trust cluster must get its password before losing trust.
        self._write_server_file("pg_hba.conf", PG_HBA)
        self._write_config(_free_port())

    def start(self, *, keep_port: bool = False) -> str:
        """Initialise if needed, start if stopped, create the database; return its URL.

        A stopped cluster starts on its remembered port, or on a free one when another
        process took it; with ``keep_port`` (a restart under clients that hold the URL) a
        taken port is an error instead.
        """
        self.init()
        # Not ``running`` (pg_ctl): it takes a killed, not yet reaped postmaster for alive.
        if not self.postmaster_alive():
            port = self.port
            if port is not None and keep_port and _port_in_use(port):
                raise DatabaseUnavailable(
                    f"Cannot restart the embedded cluster: its port {port} is taken by another "
                    "process"
                )
            if port is None or _port_in_use(port):
                port = _free_port()
            self._write_config(port)
            self._pg_ctl("-l", str(self.logfile), "-w", "-t", "60", "start")
        self._require_password()
        self._wait_ready()
        self._create_database()
        return self.url

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown)."""
        if self.running:
            self._pg_ctl("-m", "fast", "-w", "stop")

    def _connect(self, dbname: str = "postgres", **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname=dbname,
            **kwargs,  # type: ignore[arg-type]
        )

    def _require_password(self) -> None:
        """Move a cluster made with ``trust`` authentication (old gridpatrol) to a password.

        The password file is written first, then the role's SCRAM verifier, then ``pg_hba.conf``
        is replaced and reloaded: interrupted anywhere, the next ``start`` finishes the move.
        """
        methods = _auth_methods(read_nofollow(self.pgdata / "pg_hba.conf"))
        if methods == {"scram-sha-256"} and self.password_file.exists():
            return
        if not self.password_file.exists():
            if "trust" not in methods:
                raise DatabaseUnavailable(
                    f"The embedded cluster's password file {self.password_file} is missing and "
                    "the cluster accepts only passwords. Restore the file, or move the cluster "
                    f"away ({self.home}) to start a new one."
                )
            write_private(self.password_file, secrets.token_urlsafe(32) + "\n")
        self._wait_ready()
        with self._connect(autocommit=True) as conn:
            # Hashed here (libpq's PQencryptPasswordConn): the plain password never reaches
            # the server, its statement log or pg_stat_activity.
            verifier = conn.pgconn.encrypt_password(
                self.password.encode(), SUPERUSER.encode(), b"scram-sha-256"
            ).decode()
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(verifier)
                )
            )
            self._write_server_file("pg_hba.conf", PG_HBA)
            conn.execute("SELECT pg_reload_conf()")

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._connect(connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise DatabaseUnavailable(
                        f"The embedded cluster did not accept connections: {exc}"
                    ) from exc
                time.sleep(0.2)

    def _create_database(self) -> None:
        with self._connect(autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def destroy(self) -> None:
        """Stop the server and delete its files (test clusters)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
