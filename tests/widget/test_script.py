"""/widget.js: one plain script from Botyard itself, loadable by any site's page."""

from __future__ import annotations

import re

import httpx


async def test_widget_js_is_served_for_other_sites(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js", headers={"Origin": "https://shop.example"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    # Other sites' pages load it: no policy of ours may block it there.
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    for header in ("x-frame-options", "content-security-policy", "cross-origin-embedder-policy"):
        assert header not in response.headers, header
    script = response.text
    assert "attachShadow" in script and "localStorage" in script
    assert "X-Visitor-Token" in script and "Retry-After" in script
    # Nothing from anywhere but the script's own server: no absolute URL in the code.
    assert re.findall(r"https?://(?!HOST/)", script) == []
    assert "import(" not in script and "eval(" not in script
