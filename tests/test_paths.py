"""Output paths checked before any work: every way a results folder or report file can be unusable is one error."""

import os

import pytest

from harness.errors import ConfigError
from harness.paths import check_output_dir, check_output_file


def test_a_usable_directory_passes_and_a_new_one_is_not_left_behind(tmp_path):
    assert check_output_dir(tmp_path) == tmp_path
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []  # proved creatable, then removed again
    assert check_output_file(tmp_path / "a" / "report.txt") == tmp_path / "a" / "report.txt"
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "report.txt"
    existing.write_text("old")
    assert check_output_file(existing) == existing and existing.read_text() == "old"


def test_a_file_in_the_way(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    with pytest.raises(ConfigError, match=f"^output directory {taken} is a file, not a directory$"):
        check_output_dir(taken)
    with pytest.raises(ConfigError, match=f"^output directory {taken}/a/b cannot be created: {taken} is a file"):
        check_output_dir(taken / "a" / "b")
    with pytest.raises(ConfigError, match=f"^report {tmp_path} is a directory; give a file name$"):
        check_output_file(tmp_path, "report")


@pytest.mark.parametrize("path", ["/proc/results", "/sys/x/y", "/proc"])
def test_kernel_file_systems_are_refused(path):
    with pytest.raises(ConfigError, match=f"output directory {path} is under /(proc|sys)"):
        check_output_dir(path)


def test_a_link_into_proc_is_refused(tmp_path):
    (tmp_path / "link").symlink_to("/proc/self")
    with pytest.raises(ConfigError, match="under /proc"):
        check_output_dir(tmp_path / "link" / "out")


def test_names_and_paths_too_long(tmp_path):
    with pytest.raises(ConfigError, match="the name 'x{40}...x{40}' is 300 bytes long, over the file system's limit"):
        check_output_dir(tmp_path / ("x" * 300))
    with pytest.raises(ConfigError, match="the path is .* bytes long, over the limit of"):
        check_output_file(tmp_path.joinpath(*["y" * 250] * 20, "r.txt"))


def test_no_write_permission(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False)
    with pytest.raises(ConfigError, match=f"^output directory {tmp_path} is not writable"):
        check_output_dir(tmp_path)
    with pytest.raises(ConfigError, match=f"cannot be created: {tmp_path} is not writable"):
        check_output_dir(tmp_path / "new")
    (tmp_path / "r.txt").write_text("")
    with pytest.raises(ConfigError, match="r.txt is not writable"):
        check_output_file(tmp_path / "r.txt")


def test_a_directory_that_cannot_be_made_says_why(tmp_path, monkeypatch):
    def refuse(path, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "mkdir", refuse)
    with pytest.raises(ConfigError, match="new cannot be created: No space left on device$"):
        check_output_dir(tmp_path / "new")
