"""Installing what the local stack runs: system packages, Kafka's jars, MinIO, Mailpit.

System packages (PostgreSQL, nginx) come from apt when we are root; Kafka's
jars are resolved by Maven, and MinIO and Mailpit are built by ``go install``,
all into the per-user cache, where they stay for every later ``up``. Every
tool's output goes to a log file that a failure points at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from contrail.demo.errors import StackError
from contrail.demo.layout import Layout
from contrail.demo.processes import error_line, read_tail

_COMPLETE_MARKER = ".complete"
_apt_lock = threading.Lock()
_apt_updated = False


def is_root() -> bool:
    return os.geteuid() == 0


def require_tool(tool: str, purpose: str, how: str) -> str:
    """The path of ``tool`` on PATH, or a StackError saying ``how`` to install it."""
    found = shutil.which(tool)
    if found is None:
        raise StackError(f"{tool} is not installed; it is needed {purpose}. {how}")
    return found


def _run_logged(what: str, argv: Sequence[str], log: Path, env: Mapping[str, str]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        start = out.tell()
        out.write(f"--- contrail demo: {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        ).returncode
    if code != 0:
        raise StackError(
            f"{what} failed (exit {code}): "
            f"{error_line(read_tail(log, 64 * 1024, since=start))}; see {log}"
        )


def apt_install(packages: Sequence[str], log: Path) -> None:
    """``apt-get install`` as root, after one ``apt-get update`` per process."""
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _apt_lock:
        if not _apt_updated:
            _run_logged("apt-get update", ["apt-get", "update"], log, env)
            _apt_updated = True
        _run_logged(
            f"installing {' '.join(packages)} with apt-get",
            ["apt-get", "install", "-y", "--no-install-recommends", *packages],
            log,
            env,
        )


def _postgres_bin_dirs() -> list[Path]:
    root = Path("/usr/lib/postgresql")
    found = [d / "bin" for d in root.glob("*") if (d / "bin" / "pg_ctl").is_file()]
    return sorted(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def postgres_installed() -> bool:
    return bool(_postgres_bin_dirs())


def postgres_bin_dir(log: Path) -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``psql`` of the newest PostgreSQL are."""
    found = _postgres_bin_dirs()
    if not found:
        if not is_root():
            raise StackError(
                "PostgreSQL is not installed; it is the stack's database. "
                "Install it: sudo apt-get install -y postgresql"
            )
        apt_install(["postgresql"], log)
        found = _postgres_bin_dirs()
        if not found:
            raise StackError(
                f"apt installed postgresql but no pg_ctl is in /usr/lib/postgresql; see {log}"
            )
    return found[-1]


def find_nginx() -> Path | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def nginx_binary(log: Path) -> Path:
    """nginx, the gateway; installed from apt (nginx-light) when missing and root."""
    found = find_nginx()
    if found is not None:
        return found
    if not is_root():
        raise StackError(
            "nginx is not installed; it is the stack's gateway. "
            "Install it: sudo apt-get install -y nginx-light"
        )
    apt_install(["nginx-light"], log)
    if not Path("/usr/sbin/nginx").is_file():
        raise StackError(f"apt installed nginx-light but /usr/sbin/nginx is missing; see {log}")
    return Path("/usr/sbin/nginx")


def java_binary() -> str:
    return require_tool(
        "java",
        "to run Kafka",
        "Install Java 17 or newer: sudo apt-get install -y openjdk-17-jre-headless",
    )


def kafka_libs_ready(layout: Layout, version: str) -> bool:
    return (layout.kafka_libs(version) / _COMPLETE_MARKER).is_file()


def kafka_libs(layout: Layout, version: str, log: Path) -> Path:
    """The folder of Kafka ``version``'s jars, resolved by Maven on first use."""
    libs = layout.kafka_libs(version)
    if kafka_libs_ready(layout, version):
        return libs
    mvn = require_tool(
        "mvn", "once, to download Kafka's jars", "Install it: sudo apt-get install -y maven"
    )
    java_binary()
    work = libs.parent
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout.deploy / "kafka" / "pom.xml", work / "pom.xml")
    _run_logged(
        f"downloading the jars of Kafka {version} with Maven",
        [
            mvn,
            "-q",
            "-B",
            "-U",  # retry what an earlier failed attempt left cached as missing
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
            f"-Dmaven.repo.local={layout.cache / 'm2'}",
            f"-Dkafka.version={version}",
        ],
        log,
        dict(os.environ),
    )
    if not any(libs.glob(f"kafka_*-{version}.jar")):
        raise StackError(f"Maven finished but no Kafka {version} jar is in {libs}; see {log}")
    (libs / _COMPLETE_MARKER).write_text(version + "\n")
    return libs


def minio_binary(layout: Layout) -> Path:
    return layout.bin_dir / "minio"


def build_minio(layout: Layout, module: str, log: Path) -> Path:
    """The MinIO server binary, built with ``go install`` on first use."""
    return go_install(layout, "MinIO", module, minio_binary(layout), log)


def mailpit_binary(layout: Layout) -> Path:
    return layout.bin_dir / "mailpit"


def build_mailpit(layout: Layout, module: str, log: Path) -> Path:
    """The Mailpit binary (SMTP server and web inbox), built with ``go install`` on first use."""
    return go_install(layout, "Mailpit", module, mailpit_binary(layout), log)


def go_install(layout: Layout, what: str, module: str, binary: Path, log: Path) -> Path:
    """``binary``, built from ``module`` by ``go install`` into the cache's ``bin/`` if missing.

    Go's module and build caches are in the per-user cache too, so a second
    clone on the same machine, and a second module, reuse what was downloaded.
    """
    if binary.is_file():
        return binary
    go = require_tool(
        "go",
        f"once, to build {what}",
        "Install Go 1.26 or newer from https://go.dev/dl/ (Debian's golang package is too old)",
    )
    env = {
        **os.environ,
        "GOBIN": str(layout.bin_dir),
        "GOMODCACHE": str(layout.cache / "go" / "mod"),
        "GOCACHE": str(layout.cache / "go" / "build"),
        "GOFLAGS": "-mod=mod",
    }
    _run_logged(f"building {what} ({module}) with go install", [go, "install", module], log, env)
    if not binary.is_file():
        raise StackError(f"go install finished but {binary} is missing; see {log}")
    return binary
