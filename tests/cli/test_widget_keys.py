"""`botyard widget-keys`: a publishable key printed alone on stdout, listed and revoked."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli.runner import Botyard, sqlite_botyard, sqlite_rows

PUBLISHABLE_LINE = re.compile(r"byp_[0-9A-Za-z]{38}")


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    template = sqlite_botyard(tmp_path_factory.mktemp("widget-template"))
    template.ok("demo")
    return template.cwd / "botyard.db"


@pytest.fixture
def botyard(tmp_path: Path, demo_template: Path) -> Botyard:
    shutil.copy(demo_template, tmp_path / "botyard.db")
    return sqlite_botyard(tmp_path)


def test_widget_keys_create_list_revoke(botyard: Botyard) -> None:
    (bot,) = sqlite_rows(botyard, "SELECT id FROM bots LIMIT 1")
    created = botyard.ok(
        "widget-keys", "create", "--bot", bot["id"],
        "--origin", "https://shop.example", "--origin", "http://localhost:3000",
    )  # fmt: skip
    key = created.stdout.rstrip("\n")
    assert PUBLISHABLE_LINE.fullmatch(key), repr(created.stdout)
    assert f'data-key="{key}"' in created.stderr and "/widget.js" in created.stderr

    (row,) = json.loads(botyard.ok("widget-keys", "list", "--bot", bot["id"], "--json").stdout)
    assert row["key"] == key and row["status"] == "active"
    assert row["allowed_origins"] == ["https://shop.example", "http://localhost:3000"]

    botyard.ok("widget-keys", "revoke", row["id"])
    (stored,) = sqlite_rows(
        botyard, "SELECT revoked_at FROM publishable_keys WHERE id = ?", row["id"]
    )
    assert stored["revoked_at"] is not None


def test_widget_keys_create_refuses_bad_input_in_one_line(botyard: Botyard) -> None:
    (bot,) = sqlite_rows(botyard, "SELECT id FROM bots LIMIT 1")
    bad_origin = botyard.run(
        "widget-keys", "create", "--bot", bot["id"], "--origin", "shop.example"
    )
    assert bad_origin.returncode != 0 and bad_origin.stdout == ""
    assert len(bad_origin.stderr.strip().splitlines()) == 1
    assert "shop.example" in bad_origin.stderr
    unknown = botyard.run(
        "widget-keys", "create", "--bot", "bot_nope", "--origin", "https://a.example"
    )
    assert unknown.returncode != 0 and "no bot with id bot_nope" in unknown.stderr
