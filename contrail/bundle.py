"""Code bundles and package archives.

- **Ignore rules.** ``.gitignore`` and ``.contrailignore`` files (in the root and
  in any folder below it) are read with git's pattern semantics: ``#``
  comments, ``!`` negation, a trailing ``/`` for folders only, a ``/`` inside
  a pattern anchoring it to its file's folder, ``*``, ``?``, ``[...]`` and
  ``**``. The last matching pattern wins, deeper files over shallower ones and
  ``.contrailignore`` over ``.gitignore`` in the same folder; an excluded folder
  is not entered, so nothing below it can be re-included. ``.git``,
  ``__pycache__``, ``.venv`` and ``*.pyc`` are always skipped.
- **Source bundle.** A gzipped tar of the chosen files, deterministic: entries
  sorted, owners and times zeroed, modes normalized (0644, or 0755 when the
  owner may execute), the gzip header's time zeroed. The same tree always
  gives the same bytes, hence the same sha256 digest, which addresses the
  bundle in S3.
- **Package archive** (``contrail package``): a deterministic gzipped tar with
  ``manifest.json``, the source bundle as ``source.tgz`` and one canonical JSON
  file per spec under ``specs/<tasks|workflows|launch_plans>/<name>.json``.
  Specs hold no project, domain or version: those are given when the archive
  is registered. Reading an archive checks every member (see
  ``check_members``) and every digest the manifest lists.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import stat
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from contrail.errors import ContrailError
from shared.specs import LaunchPlanSpec, TaskSpec, WorkflowSpec, canonical_json

IGNORE_FILES: tuple[str, ...] = (".gitignore", ".contrailignore")
ALWAYS_SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv"})
ALWAYS_SKIPPED_SUFFIXES: tuple[str, ...] = (".pyc",)

SOURCE_MEMBER = "source.tgz"
MANIFEST_MEMBER = "manifest.json"
PACKAGE_FORMAT = "contrail-package"
PACKAGE_FORMAT_VERSION = 1
DEFAULT_MAX_MEMBER_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 1024 * 1024 * 1024

SPEC_FOLDERS: dict[str, str] = {
    "task": "tasks",
    "workflow": "workflows",
    "launch_plan": "launch_plans",
}


class BundleError(ContrailError):
    """A source tree cannot be bundled (e.g. nothing to bundle)."""


class ArchiveError(ContrailError):
    """An archive is unreadable or unsafe; the message names the archive and the member."""


class CopyMode(StrEnum):
    """Which files go into the source bundle."""

    AUTO = "auto"
    """The folders (top-level packages) of the loaded modules, without what is ignored."""
    ALL = "all"
    """Everything under the project root that is not ignored."""
    NONE = "none"
    """No bundle: tasks carry no code location bundle."""


# --- ignore rules -------------------------------------------------------------


@dataclass(frozen=True)
class IgnorePattern:
    """One line of an ignore file, compiled."""

    base: str
    """The folder of the ignore file, relative to the root ('' for the root)."""
    pattern: str
    negated: bool
    dir_only: bool
    regex: re.Pattern[str]

    def matches(self, path: str, is_dir: bool) -> bool:
        """Whether this pattern matches ``path`` (relative to the root, posix)."""
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not path.startswith(self.base + "/"):
                return False
            path = path[len(self.base) + 1 :]
        return self.regex.fullmatch(path) is not None


def parse_ignore_lines(lines: Iterable[str], base: str = "") -> list[IgnorePattern]:
    """Compile the lines of a ``.gitignore``-style file whose folder is ``base``."""
    patterns: list[IgnorePattern] = []
    for raw in lines:
        line = raw.rstrip("\n").rstrip("\r")
        if not line or line.startswith("#"):
            continue
        line = _strip_trailing_spaces(line)
        if not line:
            continue
        negated = False
        if line.startswith("!"):
            negated = True
            line = line[1:]
        elif line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/") and not line.endswith("\\/")
        if dir_only:
            line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        if line.startswith("/"):
            line = line[1:]
        regex = _glob_to_regex(line if anchored else "**/" + line)
        patterns.append(
            IgnorePattern(
                base=base,
                pattern=raw.strip(),
                negated=negated,
                dir_only=dir_only,
                regex=re.compile(regex, re.DOTALL),
            )
        )
    return patterns


def _strip_trailing_spaces(line: str) -> str:
    end = len(line)
    while end > 0 and line[end - 1] == " ":
        if end >= 2 and line[end - 2] == "\\":
            break
        end -= 1
    return line[:end]


def _glob_to_regex(glob: str) -> str:
    """Translate one gitignore glob (already anchored) into a regex over a relative path."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        if glob.startswith("**", i):
            at_start = i == 0 or glob[i - 1] == "/"
            after = glob[i + 2 : i + 3]
            if at_start and after == "/":
                out.append("(?:.*/)?")  # '**/': zero or more folders
                i += 3
                continue
            if at_start and i + 2 == n:
                out.append(".*")  # trailing '/**': everything inside
                i += 2
                continue
            out.append("[^/]*")  # any other '**' is a plain '*'
            i += 2
            continue
        char = glob[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = _class_end(glob, i)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = glob[i + 1 : end]
                negate = body.startswith(("!", "^"))
                if negate:
                    body = body[1:]
                body = body.replace("[", "\\[")
                out.append("(?!/)[" + ("^" if negate else "") + body + "]")
                i = end
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    i = start + 1
    if i < len(glob) and glob[i] in "!^":
        i += 1
    if i < len(glob) and glob[i] == "]":
        i += 1
    while i < len(glob):
        if glob[i] == "]":
            return i
        i += 1
    return -1


@dataclass
class IgnoreRules:
    """The ignore patterns in effect, in order of precedence (last wins)."""

    patterns: list[IgnorePattern] = field(default_factory=list)

    def is_ignored(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (relative to the root, posix) is ignored.

        Only the path itself is judged: callers that walk a tree skip the
        contents of ignored folders, as git does.
        """
        name = path.rsplit("/", 1)[-1]
        if is_dir and name in ALWAYS_SKIPPED_DIRS:
            return True
        if not is_dir and name.endswith(ALWAYS_SKIPPED_SUFFIXES):
            return True
        ignored = False
        for pattern in self.patterns:
            if pattern.matches(path, is_dir):
                ignored = not pattern.negated
        return ignored

    def extended(self, patterns: Iterable[IgnorePattern]) -> IgnoreRules:
        """These rules followed by ``patterns`` (which take precedence)."""
        return IgnoreRules([*self.patterns, *patterns])


def read_ignore_files(folder: Path, base: str) -> list[IgnorePattern]:
    """The patterns of ``folder``'s ``.gitignore`` then ``.contrailignore`` (if any)."""
    patterns: list[IgnorePattern] = []
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            patterns.extend(parse_ignore_lines(text.splitlines(), base))
    return patterns


def walk_files(root: Path, under: str = "") -> Iterator[str]:
    """Every file below ``root`` (or its folder ``under``) that is not ignored, sorted.

    Paths are posix and relative to ``root``. Folders are not followed through
    symbolic links; a linked file is listed only when it resolves inside ``root``.
    """
    root = root.resolve()
    rules = IgnoreRules(read_ignore_files(root, ""))
    start = root
    if under:
        parts = PurePosixPath(under).parts
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if rules.is_ignored(prefix, is_dir=True):
                return
            rules = rules.extended(read_ignore_files(root / prefix, prefix))
        start = root / under
        if not start.is_dir():
            if start.is_file() and not rules.is_ignored(under, is_dir=False):
                yield under
            return
    yield from _walk(root, start, under, rules)


def _walk(root: Path, folder: Path, rel: str, rules: IgnoreRules) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            if rules.is_ignored(path, is_dir=True):
                continue
            inner = rules.extended(read_ignore_files(Path(entry.path), path))
            yield from _walk(root, Path(entry.path), path, inner)
        elif entry.is_file(follow_symlinks=True):
            if rules.is_ignored(path, is_dir=False):
                continue
            if entry.is_symlink() and not _inside(root, Path(entry.path).resolve()):
                continue
            yield path


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def select_files(root: Path, copy: CopyMode, module_files: Sequence[Path] = ()) -> list[str]:
    """The files of ``root`` that go into the bundle, sorted, relative and posix.

    ``auto`` takes the top-level folder of every loaded module under ``root``
    (its package, with the data files in it) or the module file itself when
    it sits in the root; ``all`` takes every file of the root; ``none``
    takes nothing. Ignored files are left out in every mode.
    """
    if copy is CopyMode.NONE:
        return []
    root = root.resolve()
    if copy is CopyMode.ALL:
        return sorted(walk_files(root))
    tops: set[str] = set()
    for module_file in module_files:
        resolved = Path(module_file).resolve()
        if not _inside(root, resolved):
            continue
        parts = resolved.relative_to(root).parts
        if parts:
            tops.add(parts[0])
    selected: set[str] = set()
    for top in sorted(tops):
        selected.update(walk_files(root, top))
    return sorted(selected)


# --- source bundle --------------------------------------------------------------


@dataclass(frozen=True)
class SourceBundle:
    """A deterministic gzipped tar of source files."""

    content: bytes
    digest: str
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        """Its size in bytes."""
        return len(self.content)


def deterministic_tar(members: Iterable[tuple[str, bytes, int]]) -> bytes:
    """A gzipped tar of ``(name, content, mode)``, the same bytes for the same members.

    Entries are sorted by name; times, owners and the gzip header are zeroed.
    """
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, content, mode in sorted(members, key=lambda member: member[0]):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


def build_source_bundle(root: Path, files: Sequence[str]) -> SourceBundle:
    """Tar ``files`` (relative to ``root``) into a deterministic ``SourceBundle``."""
    if not files:
        raise BundleError(f"{root}: no file to bundle (all ignored?)")
    members: list[tuple[str, bytes, int]] = []
    for name in files:
        path = root / name
        try:
            content = path.read_bytes()
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
        except OSError as exc:
            raise BundleError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        members.append((name, content, 0o755 if executable else 0o644))
    content = deterministic_tar(members)
    return SourceBundle(
        content=content,
        digest=hashlib.sha256(content).hexdigest(),
        files=tuple(sorted(files)),
    )


# --- checking archives -----------------------------------------------------------


def check_member(member: tarfile.TarInfo, label: str, max_member_bytes: int) -> None:
    """Refuse a member that could write outside the extraction root or is too large.

    Refused: absolute names, ``..`` components, symbolic or hard links whose
    target leaves the root, devices and fifos, and members over
    ``max_member_bytes``. Raises ``ArchiveError`` naming ``label`` and the member.
    """
    name = member.name
    if _is_absolute(name):
        raise ArchiveError(f"{label}: member {name!r} has an absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise ArchiveError(f"{label}: member {name!r} has a '..' component")
    if member.issym() or member.islnk():
        target = member.linkname
        kind = "symbolic link" if member.issym() else "hard link"
        if _is_absolute(target):
            raise ArchiveError(
                f"{label}: member {name!r} is a {kind} to {target!r}, outside the archive root"
            )
        start = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(start, target.replace("\\", "/")))
        if resolved == ".." or resolved.startswith("../"):
            raise ArchiveError(
                f"{label}: member {name!r} is a {kind} to {target!r}, outside the archive root"
            )
    elif not (member.isreg() or member.isdir()):
        raise ArchiveError(f"{label}: member {name!r} is not a regular file or folder")
    if member.size > max_member_bytes:
        raise ArchiveError(
            f"{label}: member {name!r} is {member.size} bytes, "
            f"over the limit of {max_member_bytes} bytes"
        )


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name))


def check_members(
    tar: tarfile.TarFile,
    label: str,
    *,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> list[tarfile.TarInfo]:
    """Check every member of ``tar`` (``check_member``) and their total size; return them."""
    members: list[tarfile.TarInfo] = []
    total = 0
    try:
        for member in tar:
            check_member(member, label, max_member_bytes)
            total += member.size
            if total > max_total_bytes:
                raise ArchiveError(
                    f"{label}: its members add up to more than {max_total_bytes} bytes "
                    f"(at {member.name!r})"
                )
            members.append(member)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{label}: not a valid gzipped tar archive: {exc}") from exc
    return members


def check_tarball(
    content: bytes,
    label: str,
    *,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> list[str]:
    """Check a gzipped tar held in memory; return the names of its members."""
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
            members = check_members(
                tar, label, max_member_bytes=max_member_bytes, max_total_bytes=max_total_bytes
            )
    except tarfile.TarError as exc:
        raise ArchiveError(f"{label}: not a valid gzipped tar archive: {exc}") from exc
    return [member.name for member in members]


# --- package archives -------------------------------------------------------------


class _ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceEntry(_ManifestModel):
    """The source bundle inside a package."""

    path: str
    digest: str
    size: int
    files: int


class SpecEntry(_ManifestModel):
    """One spec inside a package, in registration order."""

    kind: str
    name: str
    path: str
    digest: str


class Manifest(_ManifestModel):
    """``manifest.json`` of a package archive."""

    format: str = PACKAGE_FORMAT
    format_version: int = PACKAGE_FORMAT_VERSION
    image: str | None = None
    version: str
    """The version ``contrail register files`` uses when none is given."""
    source: SourceEntry | None = None
    entities: list[SpecEntry]


AnySpec = TaskSpec | WorkflowSpec | LaunchPlanSpec


@dataclass
class Package:
    """A package archive's content, checked."""

    manifest: Manifest
    source: bytes | None
    tasks: dict[str, TaskSpec]
    workflows: dict[str, WorkflowSpec]
    launch_plans: dict[str, LaunchPlanSpec]


def spec_kind(spec: AnySpec) -> str:
    """``task``, ``workflow`` or ``launch_plan``."""
    if isinstance(spec, TaskSpec):
        return "task"
    if isinstance(spec, WorkflowSpec):
        return "workflow"
    return "launch_plan"


def build_package(
    specs: Sequence[AnySpec], source: SourceBundle | None, version: str, image: str | None
) -> bytes:
    """The bytes of a package archive holding ``specs`` (in registration order) and ``source``."""
    members: list[tuple[str, bytes, int]] = []
    entries: list[SpecEntry] = []
    seen: set[str] = set()
    for spec in specs:
        kind = spec_kind(spec)
        path = f"specs/{SPEC_FOLDERS[kind]}/{spec.name}.json"
        if path in seen:
            raise BundleError(f"two {kind}s are named {spec.name}")
        seen.add(path)
        content = canonical_json(spec)
        members.append((path, content, 0o644))
        entries.append(
            SpecEntry(
                kind=kind, name=spec.name, path=path, digest=hashlib.sha256(content).hexdigest()
            )
        )
    source_entry = None
    if source is not None:
        members.append((SOURCE_MEMBER, source.content, 0o644))
        source_entry = SourceEntry(
            path=SOURCE_MEMBER, digest=source.digest, size=source.size, files=len(source.files)
        )
    manifest = Manifest(image=image, version=version, source=source_entry, entities=entries)
    manifest_bytes = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True)
    members.append((MANIFEST_MEMBER, manifest_bytes.encode() + b"\n", 0o644))
    return deterministic_tar(members)


def read_package(
    path: Path,
    *,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> Package:
    """Read and check a package archive (and the source bundle inside it).

    Raises ``ArchiveError`` naming the archive and the member at fault: an
    unsafe member (``check_member``), a missing or malformed manifest, a spec
    that is not valid, a digest that does not match.
    """
    label = str(path)
    try:
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError as exc:
        raise ArchiveError(f"{label}: no such file") from exc
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"{label}: not a valid gzipped tar archive: {exc}") from exc
    with tar:
        members = check_members(
            tar, label, max_member_bytes=max_member_bytes, max_total_bytes=max_total_bytes
        )
        contents: dict[str, bytes] = {}
        for member in members:
            if not member.isreg():
                continue
            name = posixpath.normpath(member.name)
            extracted = tar.extractfile(member)
            if extracted is None:
                continue
            contents[name] = extracted.read()
    manifest = _read_manifest(label, contents)
    source: bytes | None = None
    if manifest.source is not None:
        source = _member(label, contents, manifest.source.path, manifest.source.digest)
        check_tarball(
            source,
            f"{label}: {manifest.source.path}",
            max_member_bytes=max_member_bytes,
            max_total_bytes=max_total_bytes,
        )
    package = Package(manifest=manifest, source=source, tasks={}, workflows={}, launch_plans={})
    for entry in manifest.entities:
        content = _member(label, contents, entry.path, entry.digest)
        spec = _parse_spec(f"{label}: {entry.path}", entry.kind, content)
        if spec.name != entry.name:
            raise ArchiveError(
                f"{label}: {entry.path} holds {spec.name!r}, the manifest says {entry.name!r}"
            )
        if isinstance(spec, TaskSpec):
            package.tasks[spec.name] = spec
        elif isinstance(spec, WorkflowSpec):
            package.workflows[spec.name] = spec
        else:
            package.launch_plans[spec.name] = spec
    return package


def _read_manifest(label: str, contents: dict[str, bytes]) -> Manifest:
    raw = contents.get(MANIFEST_MEMBER)
    if raw is None:
        raise ArchiveError(f"{label}: no {MANIFEST_MEMBER}: not a contrail package")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise ArchiveError(f"{label}: {MANIFEST_MEMBER} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != PACKAGE_FORMAT:
        raise ArchiveError(f"{label}: {MANIFEST_MEMBER} is not a {PACKAGE_FORMAT} manifest")
    if document.get("format_version") != PACKAGE_FORMAT_VERSION:
        raise ArchiveError(
            f"{label}: package format version {document.get('format_version')!r} "
            f"is not supported (this contrail reads {PACKAGE_FORMAT_VERSION})"
        )
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        raise ArchiveError(f"{label}: {MANIFEST_MEMBER}: {_first_error(exc)}") from exc


def _member(label: str, contents: dict[str, bytes], path: str, digest: str) -> bytes:
    content = contents.get(posixpath.normpath(path))
    if content is None:
        raise ArchiveError(f"{label}: the manifest lists {path!r}, which is not in the archive")
    actual = hashlib.sha256(content).hexdigest()
    if actual != digest:
        raise ArchiveError(
            f"{label}: member {path!r} has digest {actual[:12]}…, the manifest says {digest[:12]}…"
        )
    return content


def _parse_spec(label: str, kind: str, content: bytes) -> AnySpec:
    models: dict[str, type[TaskSpec] | type[WorkflowSpec] | type[LaunchPlanSpec]] = {
        "task": TaskSpec,
        "workflow": WorkflowSpec,
        "launch_plan": LaunchPlanSpec,
    }
    model = models.get(kind)
    if model is None:
        raise ArchiveError(f"{label}: unknown kind {kind!r} (task, workflow or launch_plan)")
    try:
        return model.model_validate_json(content)
    except ValidationError as exc:
        raise ArchiveError(f"{label}: not a valid {kind} spec: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first: dict[str, Any] = dict(errors[0])
    where = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', '')}{more}" if where else f"{first.get('msg', '')}{more}"
