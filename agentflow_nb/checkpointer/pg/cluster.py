"""`LocalCluster`: a throwaway PostgreSQL server on 127.0.0.1, for tests, benchmarks and demos.

It runs the server binaries installed on the machine (Debian's `postgresql` package puts them in
`/usr/lib/postgresql/<version>/bin`; elsewhere `initdb` and `pg_ctl` on PATH, or the folder in
`AGENTFLOW_PG_BIN`), in a fresh temporary data folder, on a free port, with password-less
access from 127.0.0.1 only. PostgreSQL refuses to run as root, so as root the server runs as
the `postgres` user. Stopping it deletes the folder.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["LocalCluster", "find_bin"]

_HINT = (
    "PostgreSQL's server programs (`initdb`, `pg_ctl`) were not found. Install them (Debian/Ubuntu: "
    "`apt-get install postgresql`; macOS: `brew install postgresql`; Windows: the EDB installer), set "
    "AGENTFLOW_PG_BIN to their folder, or point the tests at a server with AGENTFLOW_PG_DSN"
)


def find_bin() -> Path:
    """The folder holding `initdb` and `pg_ctl`: AGENTFLOW_PG_BIN, Debian's newest, or PATH."""
    given = os.environ.get("AGENTFLOW_PG_BIN")
    candidates = [given] if given else []
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    candidates += debian
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        if (Path(folder) / _exe("initdb")).exists() and (Path(folder) / _exe("pg_ctl")).exists():
            return Path(folder)
    raise FileNotFoundError(_HINT)


def _version(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _exe(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalCluster:
    """A throwaway PostgreSQL server. Use as a context manager, or `start()` / `stop()`.

    Args:
        durable: keep PostgreSQL's crash safety (`fsync`); off makes tests faster.
        user: the database superuser to create.

    Example:
        >>> with LocalCluster(durable=False) as cluster:
        ...     cluster.dsn.startswith("postgresql://agentflow@127.0.0.1:")
        True
    """

    def __init__(self, *, durable: bool = True, user: str = "agentflow") -> None:
        self.durable = durable
        self.user = user
        self.port: int | None = None
        self.folder: Path | None = None
        self._bin: Path | None = None
        self._as: list[str] = []

    @property
    def dsn(self) -> str:
        """The connection string of the running server."""
        if self.port is None:
            raise RuntimeError("the cluster is not running; call start() first")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        """The server's data folder."""
        assert self.folder is not None
        return self.folder / "data"

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        """Create the data folder, start the server on a free port; its DSN."""
        self._bin = find_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="agentflow-pg-"))
        self._as = self._run_as()
        self._initdb()
        atexit.register(self.stop)
        for attempt in range(5):
            self.port = _free_port()
            self._configure(self.port)
            try:
                self.pg_ctl("start", "-w", "-t", "120", "-l", str(self.folder / "server.log"))
                return self.dsn
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start; its log:\n{self.log()}") from None
        raise AssertionError("unreachable")

    def restart(self) -> None:
        """Restart the server (connections drop; data stays)."""
        self.pg_ctl("restart", "-m", "fast", "-w", "-t", "120", "-l", str(self.folder / "server.log"))

    def stop(self) -> None:
        """Stop the server at once and delete its folder (safe to call twice)."""
        folder, self.folder = self.folder, None
        if folder is None:
            return
        atexit.unregister(self.stop)
        if (folder / "data" / "postmaster.pid").exists():
            subprocess.run([*self._as, str(self._bin / _exe("pg_ctl")), "-D", str(folder / "data"),
                            "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
        self.port = None

    def log(self) -> str:
        """The server's log so far."""
        path = self.folder / "server.log" if self.folder else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def pg_ctl(self, *args: str) -> None:
        """Run `pg_ctl -D <data> ARGS` as the server's user."""
        assert self._bin is not None
        subprocess.run([*self._as, str(self._bin / _exe("pg_ctl")), "-D", str(self.data), *args],
                       check=True, capture_output=True, text=True)

    # -- setting up ------------------------------------------------------------------------

    def _run_as(self) -> list[str]:
        """As root, run the server as `postgres` (it refuses root) and give it the folder."""
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return []
        import pwd  # POSIX only, and only needed as root

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, PostgreSQL needs an unprivileged `postgres` user (Debian's postgresql "
                "package creates it); create one, or run the tests as another user"
            ) from None
        assert self.folder is not None
        os.chmod(self.folder, 0o700)
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root needs `runuser` (util-linux) to start PostgreSQL as `postgres`")
        return [runuser, "-u", "postgres", "--"]

    def _initdb(self) -> None:
        assert self._bin is not None
        command = [*self._as, str(self._bin / _exe("initdb")), "-D", str(self.data), "-U", self.user,
                   "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _configure(self, port: int) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": "''",
            "max_connections": "200",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "log_min_messages": "warning",
        }
        conf = self.data / "postgresql.auto.conf"
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conf.write_text(text)
        if self._as:  # written as root: hand it to the server's user
            assert self.folder is not None
            owner = self.folder.stat()
            os.chown(conf, owner.st_uid, owner.st_gid)
