"""A real Neo4j for machines without Docker: Neo4j 5.26 Community jars resolved by Maven and
run embedded by a small Java launcher, with Bolt on a loopback address.

State lives in `Settings.home`: `neo4j/` (the DBMS home: `data/`, `logs/`, and
`launcher.json` with PID, address and version, written by the launcher once Bolt is open and
removed on clean shutdown), `neo4j.log` (the JVM's output) and `neo4j-password` (generated on
first use unless a password is configured).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cmdb_graph.settings import Settings

LAUNCHER_DIR = Path(__file__).resolve().parent
LAUNCHER_CLASS = "CmdbGraphNeo4j"
JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-Dfile.encoding=UTF-8",
)


class LocalNeo4jError(RuntimeError):
    """The local Neo4j could not be prepared, started or stopped; the message says why."""


@dataclass(frozen=True)
class LocalStatus:
    running: bool
    pid: int | None = None
    uri: str | None = None
    version: str | None = None
    home: Path | None = None


class LocalNeo4j:
    def __init__(self, settings: Settings, progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.home = settings.home
        self.runtime = settings.cache_dir / f"neo4j-{settings.neo4j_version}"
        self._say = progress or (lambda message: None)

    # --- preparing the runtime ----------------------------------------------------------

    @property
    def lib_dir(self) -> Path:
        return self.runtime / "lib"

    @property
    def classes_dir(self) -> Path:
        return self.runtime / "classes"

    def ensure_runtime(self) -> None:
        """Resolve the jars with Maven and compile the launcher, once per Neo4j version."""
        self.runtime.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.runtime / ".lock"):
            marker = self.lib_dir / ".complete"
            if not marker.exists():
                self._resolve_jars()
                marker.write_text(self.settings.neo4j_version + "\n")
            source = LAUNCHER_DIR / f"{LAUNCHER_CLASS}.java"
            compiled = self.classes_dir / f"{LAUNCHER_CLASS}.class"
            if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
                self._compile(source)

    def _resolve_jars(self) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalNeo4jError("Maven (mvn) is not on PATH; it resolves the Neo4j jars on first use")
        self._say(f"Resolving Neo4j {self.settings.neo4j_version} from Maven Central (first use only)...")
        staging = self.runtime / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            mvn, "-q", "-B", "-f", str(LAUNCHER_DIR / "pom.xml"),
            f"-Dneo4j.version={self.settings.neo4j_version}",
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise LocalNeo4jError("Maven could not resolve Neo4j:\n" + (result.stdout + result.stderr)[-4000:])
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        staging.rename(self.lib_dir)

    def _compile(self, source: Path) -> None:
        javac = _java_tool("javac")
        self.classes_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [javac, "-d", str(self.classes_dir), "-cp", f"{self.lib_dir}/*", str(source)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise LocalNeo4jError("javac could not compile the launcher:\n" + result.stderr[-4000:])

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def dbms_home(self) -> Path:
        return self.home / "neo4j"

    @property
    def state_file(self) -> Path:
        return self.dbms_home / "launcher.json"

    @property
    def log_file(self) -> Path:
        return self.home / "neo4j.log"

    def password(self) -> str:
        """The local server's password: from settings, else generated once and kept 0600."""
        configured = self.settings.neo4j_password or self.settings.password_from_file()
        if configured is not None:
            value = configured.get_secret_value()
            if len(value) < 8:
                raise LocalNeo4jError("the Neo4j password must be at least 8 characters")
            return value
        stored = self.home / "neo4j-password"
        if stored.exists():
            return stored.read_text(encoding="utf-8").strip()
        self.home.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(18)
        descriptor = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
        return value

    def status(self) -> LocalStatus:
        state = self._read_state()
        if state is None or not _alive(state["pid"]):
            return LocalStatus(running=False, home=self.home)
        return LocalStatus(
            running=True,
            pid=state["pid"],
            uri=f"bolt://{state['host']}:{state['port']}",
            version=state.get("version"),
            home=self.home,
        )

    def start(self) -> LocalStatus:
        """Start the server unless it already runs; return once Bolt answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.home / ".start.lock"):
            current = self.status()
            if current.running:
                return current
            self.ensure_runtime()
            self.state_file.unlink(missing_ok=True)
            if _port_in_use(self.settings.bolt_host, self.settings.bolt_port):
                raise LocalNeo4jError(
                    f"port {self.settings.bolt_port} on {self.settings.bolt_host} is taken by another "
                    "program; choose another with CMDB_GRAPH_BOLT_PORT"
                )
            self._say(f"Starting Neo4j {self.settings.neo4j_version} on {self.settings.bolt_host}:{self.settings.bolt_port}...")
            process = self._spawn()
            return self._wait_until_ready(process)

    def _write_config(self) -> None:
        """Extra settings from `Settings.neo4j_config`, as the launcher's neo4j.conf."""
        self.dbms_home.mkdir(parents=True, exist_ok=True)
        path = self.dbms_home / "neo4j.conf"
        if not self.settings.neo4j_config:
            path.unlink(missing_ok=True)
            return
        lines = []
        for key, value in sorted(self.settings.neo4j_config.items()):
            if not key.replace(".", "").replace("_", "").isalnum() or "\n" in value:
                raise LocalNeo4jError(f"invalid Neo4j setting {key!r}")
            lines.append(f"{key}={value}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._write_config()
        java = _java_tool("java")
        heap = self.settings.neo4j_heap
        command = [
            java, f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS,
            "-cp", f"{self.classes_dir}{os.pathsep}{self.lib_dir}/*",
            LAUNCHER_CLASS,
            str(self.dbms_home),
            self.settings.bolt_host,
            str(self.settings.bolt_port),
            str(self.settings.neo4j_pagecache_mb * 1024 * 1024),
            str(self.settings.neo4j_tx_timeout_seconds),
        ]
        environment = {**os.environ, "CMDB_GRAPH_NEO4J_PASSWORD": self.password()}
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=environment, start_new_session=True, cwd=self.home,
            )
        finally:
            log.close()

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> LocalStatus:
        deadline = time.monotonic() + self.settings.neo4j_start_timeout_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalNeo4jError(
                    f"Neo4j exited with code {process.returncode} while starting; the end of "
                    f"{self.log_file}:\n{_tail(self.log_file)}"
                )
            if self.state_file.exists() and _port_in_use(self.settings.bolt_host, self.settings.bolt_port):
                return self.status()
            time.sleep(0.2)
        process.terminate()
        raise LocalNeo4jError(
            f"Neo4j did not open Bolt within {self.settings.neo4j_start_timeout_seconds}s; the end of "
            f"{self.log_file}:\n{_tail(self.log_file)}"
        )

    def stop(self, timeout: float = 120.0) -> bool:
        """Ask the launcher to shut down cleanly (SIGTERM runs its shutdown hook); True if it ran."""
        state = self._read_state()
        if state is None or not _alive(state["pid"]):
            self.state_file.unlink(missing_ok=True)
            return False
        pid = state["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                raise LocalNeo4jError(f"Neo4j (pid {pid}) did not shut down within {timeout:.0f}s")
            time.sleep(0.2)
        self.state_file.unlink(missing_ok=True)
        return True

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None


def _java_tool(name: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if found is None:
        raise LocalNeo4jError(f"{name} (Java 17) is not on PATH; Neo4j 5.26 needs a Java 17 JDK")
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
