"""Source bundles and package archives: ignore rules, determinism, archive checks."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from contrail.bundle import (
    ArchiveError,
    CopyMode,
    build_package,
    build_source_bundle,
    check_tarball,
    parse_ignore_lines,
    read_package,
    select_files,
    walk_files,
)
from shared.identifiers import ResourceType
from shared.literals import SimpleType
from shared.specs import (
    CodeLocation,
    EntityRef,
    LaunchPlanSpec,
    Node,
    NodeKind,
    OutputBinding,
    TaskSpec,
    TypedInterface,
    Variable,
    WorkflowSpec,
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _matches(lines: list[str], path: str, is_dir: bool = False) -> bool:
    ignored = False
    for pattern in parse_ignore_lines(lines):
        if pattern.matches(path, is_dir):
            ignored = not pattern.negated
    return ignored


# --- ignore rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.log", "a.log", False, True),
        ("*.log", "deep/er/a.log", False, True),
        ("*.log", "a.log.txt", False, False),
        ("/top.txt", "top.txt", False, True),
        ("/top.txt", "sub/top.txt", False, False),
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("build/", "src/build", True, True),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/sub/a.md", False, False),
        ("docs/*.md", "x/docs/a.md", False, False),
        ("**/cache", "a/b/cache", True, True),
        ("**/cache", "cache", True, True),
        ("a/**/z.txt", "a/z.txt", False, True),
        ("a/**/z.txt", "a/b/c/z.txt", False, True),
        ("a/**", "a/b/c.txt", False, True),
        ("a/**", "a", True, False),
        ("x[0-9]", "x7", False, True),
        ("x[!0-9]", "x7", False, False),
        ("x[!0-9]", "xa", False, True),
        ("?.txt", "a.txt", False, True),
        ("?.txt", "ab.txt", False, False),
        ("\\#hash", "#hash", False, True),
        ("\\!bang", "!bang", False, True),
        ("sp\\ ", "sp ", False, True),
        ("trailing   ", "trailing", False, True),
    ],
)
def test_gitignore_pattern_semantics(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert _matches([pattern], path, is_dir) is ignored


def test_comments_and_blank_lines_are_not_patterns() -> None:
    assert parse_ignore_lines(["# a comment", "", "   "]) == []


def test_negation_reincludes_and_last_match_wins() -> None:
    lines = ["*.log", "!keep.log"]
    assert _matches(lines, "drop.log")
    assert not _matches(lines, "keep.log")
    assert _matches([*lines, "keep.log"], "keep.log")


def test_walk_honours_gitignore_and_contrailignore(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            ".gitignore": "*.log\n!logs/keep.log\nbuild/\ndocs/*\n!docs/readme.md\n",
            ".contrailignore": "secrets.env\n",
            "app/main.py": "",
            "app/data.csv": "",
            "app/run.log": "",
            "logs/keep.log": "",
            "logs/other.log": "",
            "build/out.txt": "",
            "app/build/out.txt": "",
            "docs/readme.md": "",
            "docs/notes.txt": "",
            "secrets.env": "",
        },
    )
    assert list(walk_files(tmp_path)) == [
        ".contrailignore",
        ".gitignore",
        "app/data.csv",
        "app/main.py",
        "docs/readme.md",
        "logs/keep.log",
    ]


def test_contrailignore_overrides_gitignore_and_nested_files_apply_below(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            ".gitignore": "*.csv\n",
            ".contrailignore": "!wanted.csv\n",
            "wanted.csv": "",
            "other.csv": "",
            "pkg/.gitignore": "local.txt\n!other.csv\n",
            "pkg/local.txt": "",
            "pkg/other.csv": "",
            "local.txt": "",
        },
    )
    files = set(walk_files(tmp_path))
    assert "wanted.csv" in files
    assert "other.csv" not in files
    assert "pkg/other.csv" in files
    assert "pkg/local.txt" not in files
    assert "local.txt" in files


def test_an_excluded_folder_cannot_have_files_reincluded(tmp_path: Path) -> None:
    _tree(tmp_path, {".gitignore": "out/\n!out/keep.txt\n", "out/keep.txt": "", "a.py": ""})
    assert "out/keep.txt" not in set(walk_files(tmp_path))


def test_always_skipped_even_when_negated(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            ".gitignore": "!__pycache__/\n!*.pyc\n",
            ".git/config": "",
            ".venv/lib/x.py": "",
            "pkg/__pycache__/m.cpython-311.pyc": "",
            "pkg/m.pyc": "",
            "pkg/m.py": "",
        },
    )
    assert list(walk_files(tmp_path)) == [".gitignore", "pkg/m.py"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to compare with")
def test_same_files_as_git(tmp_path: Path) -> None:
    """git's own idea of what is ignored, on a tree with the tricky cases."""
    _tree(
        tmp_path,
        {
            ".gitignore": (
                "# comment\n*.log\n!logs/keep.log\nbuild/\n/foo.py\na/**/f.txt\ndocs/*\n"
                "!docs/readme.md\nkeep/**\n!keep/x/\nx[0-9]\n\\#hash\nsp\\ ace\n"
            ),
            "src/.gitignore": "!build/\nfoo.py\n",
            "a/b/c/f.txt": "",
            "a/x.log": "",
            "a/b/foo.py": "",
            "build/o.txt": "",
            "src/build/o.txt": "",
            "src/main.py": "",
            "src/foo.py": "",
            "logs/a.log": "",
            "logs/keep.log": "",
            "keep/x/y.txt": "",
            "docs/readme.md": "",
            "docs/notes.txt": "",
            "foo.py": "",
            "top.log": "",
            "sp ace": "",
            "#hash": "",
            "x1": "",
            "xa": "",
        },
    )
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "-o", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
        env=env,
    ).stdout.decode()
    assert sorted(walk_files(tmp_path)) == sorted(filter(None, listed.split("\0")))


# --- choosing files -----------------------------------------------------------


def test_copy_modes(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "workflows/__init__.py": "",
            "workflows/example.py": "",
            "workflows/data/words.txt": "",
            "other/__init__.py": "",
            "script.py": "",
            "README.md": "",
        },
    )
    module_files = [tmp_path / "workflows" / "example.py", tmp_path / "workflows" / "__init__.py"]
    assert select_files(tmp_path, CopyMode.AUTO, module_files) == [
        "workflows/__init__.py",
        "workflows/data/words.txt",
        "workflows/example.py",
    ]
    assert select_files(tmp_path, CopyMode.ALL, module_files) == [
        "README.md",
        "other/__init__.py",
        "script.py",
        "workflows/__init__.py",
        "workflows/data/words.txt",
        "workflows/example.py",
    ]
    assert select_files(tmp_path, CopyMode.NONE, module_files) == []
    assert select_files(tmp_path, CopyMode.AUTO, [tmp_path / "script.py"]) == ["script.py"]


def test_copy_auto_leaves_out_modules_outside_the_root(tmp_path: Path) -> None:
    _tree(tmp_path / "root", {"pkg/m.py": ""})
    _tree(tmp_path / "elsewhere", {"x.py": ""})
    files = select_files(
        tmp_path / "root",
        CopyMode.AUTO,
        [tmp_path / "root" / "pkg" / "m.py", tmp_path / "elsewhere" / "x.py"],
    )
    assert files == ["pkg/m.py"]


def test_linked_files_leaving_the_root_are_left_out(tmp_path: Path) -> None:
    _tree(tmp_path / "root", {"pkg/m.py": "x = 1\n", "pkg/alias.py": ""})
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "root" / "pkg" / "alias.py").unlink()
    (tmp_path / "root" / "pkg" / "alias.py").symlink_to(tmp_path / "root" / "pkg" / "m.py")
    (tmp_path / "root" / "pkg" / "leak.txt").symlink_to(tmp_path / "outside.txt")
    assert list(walk_files(tmp_path / "root")) == ["pkg/alias.py", "pkg/m.py"]


# --- determinism ---------------------------------------------------------------


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    files = {"pkg/a.py": "a = 1\n", "pkg/b.py": "b = 2\n", "pkg/sub/c.txt": "data"}
    first = _tree(tmp_path / "one", files)
    second = _tree(tmp_path / "two", dict(reversed(files.items())))
    os.utime(second / "pkg" / "a.py", (1_000_000, 1_000_000))
    one = build_source_bundle(first, sorted(walk_files(first)))
    two = build_source_bundle(second, list(reversed(sorted(walk_files(second)))))
    assert one.content == two.content
    assert one.digest == two.digest == hashlib.sha256(one.content).hexdigest()
    (second / "pkg" / "a.py").write_text("a = 3\n")
    assert build_source_bundle(second, sorted(walk_files(second))).digest != one.digest


def test_bundle_members_are_normalized(tmp_path: Path) -> None:
    _tree(tmp_path, {"pkg/run.sh": "#!/bin/sh\n", "pkg/m.py": ""})
    (tmp_path / "pkg" / "run.sh").chmod(0o775)
    (tmp_path / "pkg" / "m.py").chmod(0o600)
    bundle = build_source_bundle(tmp_path, ["pkg/run.sh", "pkg/m.py"])
    assert bundle.content[4:8] == b"\0\0\0\0"  # the gzip header's mtime
    with tarfile.open(fileobj=io.BytesIO(bundle.content), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["pkg/m.py", "pkg/run.sh"]
    assert [m.mode for m in members] == [0o644, 0o755]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


# --- archive checks -------------------------------------------------------------


def _tar(*members: tarfile.TarInfo, content: bytes = b"x") -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for member in members:
            if member.isreg():
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
            else:
                tar.addfile(member)
    return raw.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        (_member("/etc/passwd"), "absolute path"),
        (_member("../escape.py"), "'..' component"),
        (_member("pkg/../../escape.py"), "'..' component"),
        (_member("pkg/link", tarfile.SYMTYPE, "../../etc/passwd"), "outside the archive root"),
        (_member("pkg/link", tarfile.SYMTYPE, "/etc/passwd"), "outside the archive root"),
        (_member("hard", tarfile.LNKTYPE, "../outside"), "outside the archive root"),
        (_member("dev", tarfile.CHRTYPE), "not a regular file"),
    ],
)
def test_unsafe_members_are_refused_by_name(member: tarfile.TarInfo, problem: str) -> None:
    with pytest.raises(ArchiveError) as caught:
        check_tarball(_tar(member), "bundle.tgz")
    assert problem in str(caught.value)
    assert repr(member.name) in str(caught.value)


def test_links_inside_the_root_are_accepted() -> None:
    content = _tar(
        _member("pkg/a.py"),
        _member("pkg/alias.py", tarfile.SYMTYPE, "a.py"),
        _member("pkg/sub/up.py", tarfile.SYMTYPE, "../a.py"),
        _member("pkg/hard.py", tarfile.LNKTYPE, "pkg/a.py"),
    )
    assert check_tarball(content, "bundle.tgz") == [
        "pkg/a.py",
        "pkg/alias.py",
        "pkg/sub/up.py",
        "pkg/hard.py",
    ]


def test_oversize_members_and_totals_are_refused() -> None:
    content = _tar(_member("big.bin"), _member("big2.bin"), content=b"x" * 100)
    with pytest.raises(ArchiveError, match=r"'big.bin' is 100 bytes, over the limit of 50"):
        check_tarball(content, "bundle.tgz", max_member_bytes=50)
    with pytest.raises(ArchiveError, match="more than 150 bytes"):
        check_tarball(content, "bundle.tgz", max_total_bytes=150)


def test_garbage_is_not_an_archive() -> None:
    with pytest.raises(ArchiveError, match="not a valid gzipped tar"):
        check_tarball(b"not a tarball", "bundle.tgz")
    with pytest.raises(ArchiveError, match="not a valid gzipped tar"):
        check_tarball(gzip.compress(b"not a tar either" * 40), "bundle.tgz")


# --- package archives ------------------------------------------------------------------


def _specs() -> list[TaskSpec | WorkflowSpec | LaunchPlanSpec]:
    string = SimpleType(kind="str")
    task = TaskSpec(
        name="pkg.m.say",
        interface=TypedInterface(outputs={"o0": Variable(type=string)}),
        code=CodeLocation(module="pkg.m", function="say"),
    )
    workflow = WorkflowSpec(
        name="pkg.m.wf",
        interface=TypedInterface(outputs={"o0": Variable(type=string)}),
        nodes=[
            Node(
                id="n0",
                kind=NodeKind.TASK,
                task=EntityRef(resource_type=ResourceType.TASK, name="pkg.m.say"),
            )
        ],
        outputs={"o0": OutputBinding(node="n0", output="o0")},
    )
    launch_plan = LaunchPlanSpec(
        name="pkg.m.wf",
        workflow=EntityRef(resource_type=ResourceType.WORKFLOW, name="pkg.m.wf"),
    )
    return [task, workflow, launch_plan]


def test_package_round_trip(tmp_path: Path) -> None:
    _tree(tmp_path / "src", {"pkg/m.py": "def say(): ...\n"})
    source = build_source_bundle(tmp_path / "src", ["pkg/m.py"])
    content = build_package(_specs(), source, "v1abc", "python:3.11")
    assert content == build_package(_specs(), source, "v1abc", "python:3.11")
    archive = tmp_path / "contrail-package.tgz"
    archive.write_bytes(content)
    package = read_package(archive)
    assert package.manifest.version == "v1abc"
    assert package.manifest.image == "python:3.11"
    assert package.source == source.content
    assert list(package.tasks) == ["pkg.m.say"]
    assert list(package.workflows) == ["pkg.m.wf"]
    assert list(package.launch_plans) == ["pkg.m.wf"]
    assert [entry.kind for entry in package.manifest.entities] == [
        "task",
        "workflow",
        "launch_plan",
    ]


def _rewrite(archive: Path, change: dict[str, bytes | None]) -> None:
    """Copy ``archive`` with some members replaced (bytes) or removed (None)."""
    with tarfile.open(archive, "r:gz") as tar:
        members = [(m, tar.extractfile(m)) for m in tar.getmembers()]
        contents = {m.name: (f.read() if f else b"") for m, f in members}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, content in {**contents, **change}.items():
            if content is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    archive.write_bytes(raw.getvalue())


def test_package_checks_digests_manifest_and_inner_bundle(tmp_path: Path) -> None:
    _tree(tmp_path / "src", {"pkg/m.py": ""})
    source = build_source_bundle(tmp_path / "src", ["pkg/m.py"])
    archive = tmp_path / "p.tgz"
    archive.write_bytes(build_package(_specs(), source, "v1", None))

    _rewrite(archive, {"specs/tasks/pkg.m.say.json": b"{}"})
    with pytest.raises(ArchiveError, match=r"'specs/tasks/pkg.m.say.json' has digest"):
        read_package(archive)

    archive.write_bytes(build_package(_specs(), source, "v1", None))
    _rewrite(archive, {"manifest.json": None})
    with pytest.raises(ArchiveError, match=r"no manifest\.json"):
        read_package(archive)

    archive.write_bytes(build_package(_specs(), source, "v1", None))
    evil = _tar(_member("../../evil.py"))
    with tarfile.open(archive, "r:gz") as tar:
        extracted = tar.extractfile("manifest.json")
        assert extracted is not None
        manifest = json.loads(extracted.read())
    manifest["source"]["digest"] = hashlib.sha256(evil).hexdigest()
    _rewrite(archive, {"source.tgz": evil, "manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(ArchiveError, match=r"source.tgz: member '../../evil.py' has a '..'"):
        read_package(archive)


def test_package_with_an_unsafe_member_names_it(tmp_path: Path) -> None:
    archive = tmp_path / "p.tgz"
    archive.write_bytes(_tar(_member("manifest.json"), _member("/abs/specs.json")))
    with pytest.raises(ArchiveError, match=r"member '/abs/specs.json' has an absolute path"):
        read_package(archive)
    with pytest.raises(ArchiveError, match="no such file"):
        read_package(tmp_path / "missing.tgz")
