"""The attempts a machine's workers started, remembered across restarts (``RanAttempts``)."""

from __future__ import annotations

from pathlib import Path

from services.launcher.worker.ran import RanAttempts


def test_a_restarted_worker_remembers_the_attempts_started_before(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "ran-attempts"
    before = RanAttempts(path)
    before.add("p/development/e1/n0/1")
    before.add("p/development/e2/m0[1]/2")

    after = RanAttempts(path)  # a new process, reading the same file
    assert "p/development/e1/n0/1" in after
    assert "p/development/e2/m0[1]/2" in after
    assert "p/development/e1/n0/2" not in after


def test_only_the_newest_are_kept_and_the_file_is_cut_when_it_doubles(tmp_path: Path) -> None:
    path = tmp_path / "ran-attempts"
    ran = RanAttempts(path, keep=3)
    for i in range(5):
        ran.add(f"a{i}")
    assert len(ran) == 3
    assert "a1" not in ran
    assert "a4" in ran
    assert path.read_text().splitlines() == ["a0", "a1", "a2", "a3", "a4"]
    ran.add("a5")  # the sixth line: cut to the newest three
    assert path.read_text().splitlines() == ["a3", "a4", "a5"]
    assert set(RanAttempts(path, keep=3)._ids) == {"a3", "a4", "a5"}


def test_without_a_file_the_ids_are_kept_in_memory() -> None:
    ran = RanAttempts(None)
    ran.add("x")
    assert "x" in ran
