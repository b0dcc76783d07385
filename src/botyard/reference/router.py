import re
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from botyard.core.csp import STRICT, html_headers, inline_source
from botyard.reference.codes import ERROR_CODES

router = APIRouter(tags=["reference"])

STYLE = """body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.5rem;text-align:left;vertical-align:top}
tr:target{background:#fff7d6}"""
# The page's one inline <style>, allowed by its hash: no other inline style or any script runs.
POLICY = STRICT.allow("style-src", inline_source(STYLE))


def inline_markup(text: str) -> str:
    """The registry writes code as Markdown backticks; the page shows it as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


@router.get("/docs/errors", response_class=HTMLResponse, summary="Error code reference")
async def error_reference() -> HTMLResponse:
    """Public. Every error's ``doc_url`` links to its row here (``#code``)."""
    rows = "\n".join(
        f'<tr id="{escape(c.code)}"><td>{c.status}</td><td><code>{escape(c.type)}</code></td>'
        f"<td><code>{escape(c.code)}</code></td><td>{inline_markup(c.meaning)}</td>"
        f"<td>{inline_markup(c.remedy)}</td></tr>"
        for c in ERROR_CODES
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Botyard API errors</title>
<style>{STYLE}</style></head>
<body><h1>Botyard API errors</h1>
<p>Every error is JSON: <code>{{"error": {{"type", "code", "message", "doc_url", "request_id"}}}}</code>.
Messages of 401 start with "Invalid API Key:" and of 403 with "Insufficient Permissions:".</p>
<table><thead><tr><th>Status</th><th>Type</th><th>Code</th><th>Meaning</th><th>What to do</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>"""
    return HTMLResponse(page, headers=html_headers(POLICY))
