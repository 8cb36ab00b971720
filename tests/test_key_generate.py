"""``onboarding key generate``: a new secret key, printed or written to a file only its owner reads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.cli_process import ONBOARDING, environment, one_line_error, run
from workflow.secrets import FernetVault


def test_a_printed_key_is_a_fresh_fernet_key() -> None:
    """Without --file the key is printed alone on one line; each run makes another one."""
    first, second = run("key", "generate"), run("key", "generate")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    key = first.stdout.strip()
    assert first.stdout == key + "\n"
    assert len(key) == 44
    FernetVault(key.encode())  # a valid key, or this raises
    assert second.stdout.strip() != key


def test_a_key_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    """--file writes the key with mode 0600 whatever the umask, and the vault reads it."""
    import subprocess

    path = tmp_path / "secret.key"
    result = subprocess.run(
        [str(ONBOARDING), "key", "generate", "--file", str(path)], capture_output=True,
        text=True, env=environment(), preexec_fn=lambda: os.umask(0), check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == f"wrote a new secret key to {path} (mode 0600): keep it with the database\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    vault, created = FernetVault.from_key_file(path, create=False)
    assert not created
    assert vault.open("x", vault.seal({"a": "b"})) == {"a": "b"}


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    """A file already there is refused in one line and left as it was; --force replaces it
    (mode 0600 again)."""
    path = tmp_path / "secret.key"
    path.write_text("what an earlier key sealed depends on this\n")
    path.chmod(0o644)
    refused = run("key", "generate", "--file", str(path))
    line = one_line_error(refused)
    assert line == (
        f"error: {path} already exists; a new key there would orphan what the old one sealed "
        "and anchored: choose another file, or pass --force to replace it"
    )
    assert path.read_text() == "what an earlier key sealed depends on this\n"
    forced = run("key", "generate", "--file", str(path), "--force")
    assert forced.returncode == 0, forced.stderr
    FernetVault(path.read_bytes().strip())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key"]  # no temporary left


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """A missing directory is one line naming the file, no traceback."""
    path = tmp_path / "missing" / "secret.key"
    line = one_line_error(run("key", "generate", "--file", str(path)))
    assert line == f"error: cannot write {path}: No such file or directory"
