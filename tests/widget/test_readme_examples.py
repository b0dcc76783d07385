"""The README's identity-verification examples (Python and Node) make hashes the server accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth
from tests.widget.support import make_site, start

README = Path(__file__).resolve().parents[2] / "README.md"


def example(language: str, after: str) -> str:
    text = README.read_text()
    section = text[text.index("## Put a bot on your website") :]
    match = re.search(rf"{re.escape(after)}.*?```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} example after {after!r} in the README"
    return match.group(1)


def python_hash(secret: str, user_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BOTYARD_IDENTITY_SECRET", secret)
    namespace: dict[str, Any] = {}
    exec(example("python", "Python (your server"), namespace)  # noqa: S102 (the README's code)
    return str(namespace["botyard_user_hash"](user_id))


def node_hash(secret: str, user_id: str) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    program = example("js", "Node:") + "\nprocess.stdout.write(botyardUserHash(process.argv[1]));"
    result = subprocess.run(
        [node, "-e", program, user_id],
        env={"BOTYARD_IDENTITY_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


async def test_the_readme_examples_verify_a_visitor(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = await make_site(app, identity_verification=True)
    secret = (
        await client.get(f"/v1/bots/{site.bot.id}/identity-secret", headers=auth(site.secret))
    ).json()["identity_secret"]
    user_id = "user-42 ü"
    from_python = python_hash(secret, user_id, monkeypatch)
    assert node_hash(secret, user_id) == from_python
    started = await start(client, site, external_user_id=user_id, user_hash=from_python)
    assert started["conversation"]["external_user_id"] == user_id
