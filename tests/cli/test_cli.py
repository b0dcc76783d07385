"""The `botyard` command end to end, as an operator runs it: real subprocesses, a real database."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from botyard.users.passwords import hash_password, verify_password
from tests.cli.runner import Botyard, lines, sqlite_botyard, sqlite_rows

KEY_LINE = re.compile(r"byk_[0-9A-Za-z]{38}")


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`botyard db upgrade` once; each test starts from a copy of the migrated file."""
    template = sqlite_botyard(tmp_path_factory.mktemp("template"))
    first = template.ok("db", "upgrade")
    assert "created the schema in a new database" in first.stderr, first.stderr
    return template.cwd / "botyard.db"


@pytest.fixture
def botyard(tmp_path: Path, migrated_template: Path) -> Botyard:
    shutil.copy(migrated_template, tmp_path / "botyard.db")
    return sqlite_botyard(tmp_path)


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


def the_key(stdout: str) -> str:
    """A command that shows a key prints it alone: one line, nothing else."""
    assert stdout.endswith("\n")
    assert KEY_LINE.fullmatch(stdout.rstrip("\n")), repr(stdout)
    return stdout.rstrip("\n")


def keys_of(botyard: Botyard, org: str) -> dict[str, dict[str, object]]:
    result = botyard.ok("keys", "list", "--org", org, "--json")
    return {row["id"]: row for row in json.loads(result.stdout)}


def make_org(botyard: Botyard, name: str = "Globex", plan: str = "professional") -> str:
    org_id = botyard.ok("orgs", "create", name, "--plan", plan).stdout.strip()
    assert re.fullmatch(r"org_[0-9A-Za-z]+", org_id)
    return org_id


def test_db_upgrade_is_repeatable(botyard: Botyard) -> None:
    again = botyard.ok("db", "upgrade")
    assert again.stdout == ""
    assert "already at the latest schema" in again.stderr, again.stderr
    tables = {r["name"] for r in sqlite_rows(botyard, "SELECT name FROM sqlite_master")}
    assert {"organizations", "api_keys", "users", "bots", "request_logs"} <= tables


@pytest.mark.slow
def test_demo_is_idempotent_and_its_login_works(botyard: Botyard) -> None:
    first = botyard.ok("demo")
    second = botyard.ok("demo")
    for run in (first, second):
        assert "Acme" in run.stderr
        assert "owner@acme.example" in run.stderr
    passwords = [re.search(r"password:\s*(\S+)", run.stderr) for run in (first, second)]
    assert passwords[0] and passwords[1], second.stderr
    password = passwords[1].group(1)
    assert passwords[0].group(1) == password, "a second run must print the same password"
    assert "already present" in second.stderr and "refreshed" not in second.stderr

    orgs = sqlite_rows(botyard, "SELECT id, plan FROM organizations WHERE name = 'Acme'")
    assert [o["plan"] for o in orgs] == ["professional"]
    bots = sqlite_rows(botyard, "SELECT name FROM bots WHERE organization_id = ?", orgs[0]["id"])
    assert [b["name"] for b in bots] == ["Acme Support"]
    knowledge = sqlite_rows(botyard, "SELECT COUNT(*) AS n FROM knowledge_entries")
    assert knowledge[0]["n"] > 0
    (owner,) = sqlite_rows(
        botyard,
        "SELECT u.password_hash, m.role FROM users u JOIN memberships m ON m.user_id = u.id "
        "WHERE u.email = 'owner@acme.example' AND m.organization_id = ?",
        orgs[0]["id"],
    )
    assert owner["role"] == "owner"
    assert verify_password(owner["password_hash"], password)
    assert password not in repr([tuple(row) for row in sqlite_rows(botyard, "SELECT * FROM users")])


def test_demo_leaves_a_password_the_owner_changed_and_can_reset_it(botyard: Botyard) -> None:
    demo_password = re.search(r"password:\s*(\S+)", botyard.ok("demo").stderr)
    assert demo_password
    with closing(sqlite3.connect(botyard.cwd / "botyard.db")) as db, db:
        db.execute(
            "UPDATE users SET password_hash = ? WHERE email = 'owner@acme.example'",
            (hash_password("a passphrase the owner chose"),),
        )
    again = botyard.ok("demo").stderr
    assert "changed since the demo set it" in again and "--reset-password" in again
    assert demo_password.group(1) not in again

    reset = botyard.ok("demo", "--reset-password").stderr
    assert f"password: {demo_password.group(1)}" in reset
    (owner,) = sqlite_rows(
        botyard, "SELECT password_hash FROM users WHERE email = 'owner@acme.example'"
    )
    assert verify_password(owner["password_hash"], demo_password.group(1))


def test_demo_login_url_follows_the_port_unless_a_public_url_is_set(botyard: Botyard) -> None:
    on_port = botyard.ok("demo", env={"BOTYARD_PORT": "19100"}).stderr
    assert "Log in at http://127.0.0.1:19100/dashboard/login" in on_port
    named = botyard.ok(
        "demo", env={"BOTYARD_PORT": "19100", "BOTYARD_PUBLIC_URL": "https://bots.example.com/"}
    ).stderr
    assert "Log in at https://bots.example.com/dashboard/login" in named


def test_keys_create_warns_when_the_plan_has_no_api_access(botyard: Botyard) -> None:
    make_org(botyard, "Hooli", "free")
    free = botyard.ok("keys", "create", "--org", "Hooli", "--name", "CI", "--scope", "read")
    the_key(free.stdout)
    assert "warning" in free.stderr and "free plan" in free.stderr
    assert "refused" in free.stderr and "botyard orgs set-plan Hooli professional" in free.stderr

    make_org(botyard, "Globex", "professional")
    paid = botyard.ok("keys", "create", "--org", "Globex", "--name", "CI", "--scope", "read")
    assert "warning" not in paid.stderr


def test_orgs_create_list_set_plan_and_rate_limit(botyard: Botyard) -> None:
    org_id = make_org(botyard, "Initech", "starter")
    listed = {o["id"]: o for o in json.loads(botyard.ok("orgs", "list", "--json").stdout)}
    assert listed[org_id]["name"] == "Initech"
    assert listed[org_id]["plan"] == "starter"
    assert listed[org_id]["rate_limit"] == 1000
    parse_time(listed[org_id]["created_at"])

    botyard.ok("orgs", "set-plan", "Initech", "professional")
    botyard.ok("orgs", "set-rate-limit", org_id, "5000")
    listed = {o["id"]: o for o in json.loads(botyard.ok("orgs", "list", "--json").stdout)}
    assert (listed[org_id]["plan"], listed[org_id]["rate_limit"]) == ("professional", 5000)
    table = botyard.ok("orgs", "list").stdout
    assert "Initech" in table and org_id in table

    events = sqlite_rows(
        botyard, "SELECT action FROM audit_events WHERE organization_id = ?", org_id
    )
    assert {"plan.changed", "rate_limit.changed"} <= {e["action"] for e in events}


def test_users_create_reads_the_password_from_stdin(botyard: Botyard) -> None:
    make_org(botyard, "Hooli")
    password = "a long enough passphrase"
    result = botyard.ok(
        "users",
        "create",
        "Gavin@Hooli.example",
        "--org",
        "Hooli",
        "--role",
        "admin",
        input=password + "\n",
    )
    user_id = result.stdout.strip()
    assert re.fullmatch(r"usr_[0-9A-Za-z]+", user_id)
    assert password not in result.stdout + result.stderr
    (user,) = sqlite_rows(
        botyard,
        "SELECT u.email, u.password_hash, m.role FROM users u "
        "JOIN memberships m ON m.user_id = u.id WHERE u.id = ?",
        user_id,
    )
    assert (user["email"], user["role"]) == ("gavin@hooli.example", "admin")
    assert user["password_hash"].startswith("$argon2")
    assert verify_password(user["password_hash"], password)


def test_keys_create_prints_the_key_alone_and_list_shows_only_hints(botyard: Botyard) -> None:
    org_id = make_org(botyard)
    created = botyard.ok(
        "keys",
        "create",
        "--org",
        "Globex",
        "--name",
        "Website Integration",
        "--scope",
        "read",
        "--scope",
        "write",
    )
    key = the_key(created.stdout)
    assert key not in created.stderr

    listing = botyard.ok("keys", "list", "--org", org_id, "--json")
    assert key not in listing.stdout
    (row,) = json.loads(listing.stdout)
    assert row["name"] == "Website Integration"
    assert row["hint"] == f"{key[:8]}…{key[-4:]}"
    assert row["scopes"] == ["read", "write"]
    assert (row["status"], row["expires_at"], row["revoked_at"]) == ("active", None, None)
    table = botyard.ok("keys", "list", "--org", org_id).stdout
    assert row["hint"] in table and key not in table


def test_keys_create_with_expiry(botyard: Botyard) -> None:
    make_org(botyard)
    key = the_key(
        botyard.ok(
            "keys",
            "create",
            "--org",
            "Globex",
            "--name",
            "CI",
            "--scope",
            "read",
            "--expires-in",
            "90d",
        ).stdout
    )
    (row,) = keys_of(botyard, "Globex").values()
    lifetime = parse_time(str(row["expires_at"])) - parse_time(str(row["created_at"]))
    assert abs(lifetime - timedelta(days=90)) < timedelta(minutes=1)
    assert key[-4:] in str(row["hint"])


def test_keys_revoke(botyard: Botyard) -> None:
    make_org(botyard)
    botyard.ok("keys", "create", "--org", "Globex", "--name", "Old", "--scope", "read")
    (key_id,) = keys_of(botyard, "Globex")
    revoked = botyard.ok("keys", "revoke", key_id)
    assert revoked.stdout == ""
    row = keys_of(botyard, "Globex")[key_id]
    assert row["status"] == "revoked" and row["revoked_at"] is not None
    assert botyard.ok("keys", "revoke", key_id).returncode == 0  # idempotent


@pytest.mark.parametrize(("grace", "old_status"), [("0", "revoked"), ("24h", "active")])
def test_keys_rotate_prints_the_new_key_alone(
    botyard: Botyard, grace: str, old_status: str
) -> None:
    make_org(botyard)
    old_key = the_key(
        botyard.ok(
            "keys", "create", "--org", "Globex", "--name", "Backend", "--scope", "admin"
        ).stdout
    )
    (old_id,) = keys_of(botyard, "Globex")
    rotated = botyard.ok("keys", "rotate", old_id, "--grace", grace)
    new_key = the_key(rotated.stdout)
    assert new_key != old_key and new_key not in rotated.stderr

    rows = keys_of(botyard, "Globex")
    old = rows.pop(old_id)
    (new,) = rows.values()
    assert (new["name"], new["scopes"], new["status"]) == ("Backend", ["admin"], "active")
    assert new["hint"] == f"{new_key[:8]}…{new_key[-4:]}"
    assert old["status"] == old_status
    if grace == "24h":
        ends = parse_time(str(old["expires_at"])) - parse_time(str(new["created_at"]))
        assert abs(ends - timedelta(hours=24)) < timedelta(minutes=1)


BAD_INPUT = {
    "unknown org": ["keys", "create", "--org", "Nope Inc", "--name", "x", "--scope", "read"],
    "bad scope": ["keys", "create", "--org", "Globex", "--name", "x", "--scope", "superuser"],
    "bad duration": [
        "keys",
        "create",
        "--org",
        "Globex",
        "--name",
        "x",
        "--scope",
        "read",
        "--expires-in",
        "ninety days",
    ],
    "huge duration": [
        "keys",
        "create",
        "--org",
        "Globex",
        "--name",
        "x",
        "--scope",
        "read",
        "--expires-in",
        "99999999999d",
    ],
    "missing scope option": ["keys", "create", "--org", "Globex", "--name", "x"],
    "missing org option": ["keys", "list"],
    "empty name": ["keys", "create", "--org", "Globex", "--name", " ", "--scope", "read"],
    "unknown key": ["keys", "revoke", "key_doesnotexist"],
    "grace too long": ["keys", "rotate", "KEY_ID", "--grace", "8d"],
    "bad grace": ["keys", "rotate", "KEY_ID", "--grace", "soon"],
    "unknown plan": ["orgs", "set-plan", "Globex", "platinum"],
    "unknown org for plan": ["orgs", "set-plan", "Nope Inc", "starter"],
    "duplicate org": ["orgs", "create", "Globex"],
    "rate limit not a number": ["orgs", "set-rate-limit", "Globex", "lots"],
    "rate limit zero": ["orgs", "set-rate-limit", "Globex", "0"],
    "unknown role": ["users", "create", "x@example.com", "--org", "Globex", "--role", "king"],
    "bad email": ["users", "create", "not-an-email", "--org", "Globex", "--role", "member"],
    "unknown command": ["keys", "delete", "KEY_ID"],
}


@pytest.mark.slow
def test_bad_input_exits_non_zero_with_one_line(botyard: Botyard) -> None:
    make_org(botyard)
    botyard.ok("keys", "create", "--org", "Globex", "--name", "Target", "--scope", "read")
    (key_id,) = keys_of(botyard, "Globex")
    calls = {
        label: [key_id if a == "KEY_ID" else a for a in args] for label, args in BAD_INPUT.items()
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(
                calls,
                pool.map(
                    lambda a: botyard.run(*a, input="a long enough passphrase\n"), calls.values()
                ),
                strict=True,
            )
        )
    problems = []
    for label, result in results.items():
        stderr = list(lines(result.stderr))
        if result.returncode == 0:
            problems.append(f"{label}: exit code 0")
        if result.stdout.strip():
            problems.append(f"{label}: printed on stdout: {result.stdout!r}")
        if len(stderr) != 1 or not stderr[0].startswith("error: "):
            problems.append(f"{label}: stderr is not one 'error: …' line: {result.stderr!r}")
    assert not problems, "\n".join(problems)
    assert list(keys_of(botyard, "Globex")) == [key_id], "bad input changed the keys"


def test_bad_configuration_exits_2_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    for url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
        result = Botyard(url, tmp_path).run("db", "upgrade")
        assert result.returncode == 2, result.stderr
        [line] = lines(result.stderr)
        assert line.startswith("error: invalid configuration: BOTYARD_DATABASE_URL: ")
        assert "in-memory SQLite database is not supported" in line
