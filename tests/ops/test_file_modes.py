"""Tightening a data directory's modes: looser files become 0600, symlinks are left alone."""

from __future__ import annotations

import stat
from pathlib import Path

from lls.ops.file_modes import tighten_data_dir


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_tighten_makes_files_0600_and_dirs_0700_without_following_symlinks(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "lls.db").write_text("db")
    (data / "lls.db").chmod(0o644)
    (data / "sub" / "x").write_text("x")
    (data / "sub" / "x").chmod(0o666)
    (data / "sub").chmod(0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)

    changed = tighten_data_dir(data)

    assert _mode(data / "lls.db") == 0o600
    assert _mode(data / "sub" / "x") == 0o600
    assert _mode(data / "sub") == 0o700
    assert _mode(outside) == 0o644
    assert len(changed) == 4  # data itself, sub, lls.db, sub/x
