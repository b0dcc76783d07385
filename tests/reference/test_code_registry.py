"""One registry of error codes feeds the errors, /docs/errors and OpenAPI: every code a route
can raise has a row, and the page shows the registry's text as HTML, not Markdown."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import httpx
from fastapi import FastAPI

import botyard
from botyard.reference.codes import ERROR_CODES

SOURCE = Path(botyard.__file__).parent
CODE = re.compile(r"[a-z][a-z0-9_]+")
ERROR_CLASSES = re.compile(
    r"(APIError|Conflict|InvalidAPIKey|InsufficientPermissions|RateLimited|\w+Error)"
)


def raised_codes() -> dict[str, str]:
    """Codes written literally where an API error is built or an error response is sent."""
    found: dict[str, str] = {}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            literals = [kw.value for kw in node.keywords if kw.arg == "code"]
            if ERROR_CLASSES.fullmatch(name) and name != "NotFound" and node.args:
                literals.append(node.args[0])
            for literal in literals:
                value = literal.value if isinstance(literal, ast.Constant) else None
                if isinstance(value, str) and CODE.fullmatch(value):
                    found.setdefault(value, f"{path.relative_to(SOURCE)}:{node.lineno}")
    return found


def test_every_code_the_source_raises_has_a_row() -> None:
    registered = {entry.code for entry in ERROR_CODES}
    raised = raised_codes()
    assert len(raised) > 40, "the scan found too few codes: it no longer sees the raise sites"
    missing = {code: where for code, where in raised.items() if code not in registered}
    assert not missing, f"add these to src/botyard/reference/codes.py: {missing}"


def test_codes_are_unique_and_complete() -> None:
    counts = Counter(entry.code for entry in ERROR_CODES)
    assert [code for code, n in counts.items() if n > 1] == []
    for entry in ERROR_CODES:
        assert 400 <= entry.status < 600, entry
        assert entry.meaning.strip() and entry.remedy.strip(), entry


async def test_the_page_has_a_row_per_code_and_no_markdown(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs/errors")).text
    for entry in ERROR_CODES:
        assert f'id="{entry.code}"' in page, entry.code
    assert "`" not in page, "Markdown backticks must render as <code>"
    assert "<code>Authorization: Bearer YOUR_API_KEY</code>" in page


async def test_openapi_error_responses_name_their_codes(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/v1/bots"]["post"]
    assert "`missing_api_key`" in operation["responses"]["401"]["description"]
    assert "`bot_paused`" not in operation["responses"]["401"]["description"]
    assert "`last_owner`" in operation["responses"]["409"]["description"]
