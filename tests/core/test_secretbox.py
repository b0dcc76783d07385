"""Secrets the server must read back are sealed under the operator's key, never stored plain."""

from __future__ import annotations

import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from botyard.core.secretbox import SecretBox, SecretBoxError, load_secret_box

MASTER = "an-operator-chosen-master-key-of-enough-length"


def test_a_sealed_secret_opens_only_for_its_purpose_and_hides_the_plaintext() -> None:
    box = load_secret_box(MASTER, "unused")
    sealed = box.seal("whsec_c2VjcmV0", purpose="webhook-secret")
    assert "whsec_" not in sealed and "c2VjcmV0" not in sealed
    assert box.open(sealed, purpose="webhook-secret") == "whsec_c2VjcmV0"
    with pytest.raises(SecretBoxError):
        box.open(sealed, purpose="identity-secret")


def test_another_master_key_cannot_open_and_says_which_setting_to_check() -> None:
    sealed = load_secret_box(MASTER, "unused").seal("identity", purpose="identity-secret")
    other = load_secret_box(MASTER + "-changed", "unused")
    with pytest.raises(SecretBoxError, match="BOTYARD_SECRET_KEY"):
        other.open(sealed, purpose="identity-secret")


def test_a_short_master_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        load_secret_box("short", "unused")


def test_repr_never_shows_the_master_key() -> None:
    assert MASTER not in repr(SecretBox(MASTER.encode()))


def test_the_default_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "botyard.secret"
    first = load_secret_box(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = first.seal("kept across restarts", purpose="identity-secret")
    second = load_secret_box(None, path)
    assert second.open(sealed, purpose="identity-secret") == "kept across restarts"
    assert [p.name for p in tmp_path.iterdir()] == ["botyard.secret"]


def _seal_with_default_file(path: str) -> str:
    return load_secret_box(None, path).seal("same key everywhere", purpose="race")


def test_processes_starting_at_once_all_end_up_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "botyard.secret"
    with ProcessPoolExecutor(max_workers=6) as pool:
        sealed = list(pool.map(_seal_with_default_file, [str(path)] * 12))
    box = load_secret_box(None, path)
    assert {box.open(s, purpose="race") for s in sealed} == {"same key everywhere"}
    assert [p.name for p in tmp_path.iterdir()] == ["botyard.secret"]
