"""Code bundles on a worker: unpacked once per digest into a cache folder, safely.

A bundle is the gzipped tar that ``contrail register`` uploads, addressed by
the sha256 of its bytes. ``unpack_bundle`` checks those bytes against the
digest, refuses any member that could land outside the folder (absolute
names, ``..``, links whose target leaves the root, devices), extracts into a
temporary folder next to the cache entry and renames it into place, so a
cache entry that exists is complete. Unpacking the same digest again, from
this process or another, returns the existing folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from contrail.bundle import ArchiveError, check_members

_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$")


class BundleError(Exception):
    """A code bundle can't be unpacked (wrong digest, unreadable, unsafe); the message says why."""


def unpack_bundle(tarball: Path, cache_dir: Path, digest: str) -> Path:
    """The folder of the bundle ``digest`` under ``cache_dir``, unpacked from ``tarball`` if needed.

    Idempotent and atomic: the folder appears complete or not at all.

    Raises:
        BundleError: ``digest`` is not a sha256 (hex, optionally ``sha256:``-prefixed),
            the tarball's bytes don't have that digest, it is not a gzipped tar, or
            a member is unsafe (its name is in the message).
    """
    match = _DIGEST.match(digest.lower())
    if match is None:
        raise BundleError(f"bundle digest {digest!r} is not a sha256 in hex")
    hexdigest = match.group(1)
    cache_dir = Path(cache_dir)
    target = cache_dir / hexdigest
    if target.is_dir():
        return target

    actual = _sha256(tarball)
    if actual != hexdigest:
        raise BundleError(f"bundle {tarball}: its sha256 is {actual}, expected {hexdigest}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{hexdigest[:12]}-", dir=cache_dir))
    try:
        _extract(tarball, staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not another unpacker winning the race
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(tarball: Path, root: Path) -> None:
    label = f"bundle {tarball.name}"
    try:
        with tarfile.open(tarball, mode="r:gz") as tar:
            members = check_members(tar, label)
            # The "data" filter checks again against what is on disk as it
            # extracts (a link through an earlier link), and drops modes and owners.
            tar.extractall(root, members=members, filter="data")
    except ArchiveError as error:
        raise BundleError(str(error)) from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BundleError(f"{label}: cannot be unpacked: {error}") from None
    _check_links(root, label)


def _check_links(root: Path, label: str) -> None:
    """Refuse a tree where a symbolic link resolves outside ``root``."""
    real_root = os.path.realpath(root)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                continue
            resolved = os.path.realpath(path)
            with contextlib.suppress(ValueError):
                if os.path.commonpath([real_root, resolved]) == real_root:
                    continue
            member = os.path.relpath(path, root)
            raise BundleError(f"{label}: member {member!r} links outside the bundle")
