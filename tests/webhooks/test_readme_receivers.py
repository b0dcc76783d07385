"""The README's receiver examples, run as written against real deliveries: each accepts what
Botyard signs and refuses a forged signature. The README must quote the files verbatim."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from botyard.conversations import service as conversations
from botyard.organizations.models import Organization
from botyard.webhooks.worker import DeliveryWorker
from tests.factories import make_bot
from tests.webhooks.support import deliveries_of, make_endpoint

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "webhooks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command_for(example: str) -> list[str]:
    if example.endswith(".py"):
        return [sys.executable, str(EXAMPLES / example)]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    return [node, str(EXAMPLES / example)]


def start_example(example: str, secret: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command_for(example),
        env={"BOTYARD_WEBHOOK_SECRET": secret, "PORT": str(port), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("example", ["receiver.py", "receiver.mjs"])
def test_the_readme_quotes_the_example(example: str) -> None:
    assert (EXAMPLES / example).read_text().strip() in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("example", ["receiver.py", "receiver.mjs"])
async def test_the_example_verifies_real_deliveries_and_refuses_forgeries(
    app: FastAPI, org: Organization, worker: DeliveryWorker, example: str
) -> None:
    port = free_port()
    endpoint, secret = await make_endpoint(
        app, org, f"http://127.0.0.1:{port}/", ["conversation.created"]
    )
    process = start_example(example, secret, port)
    try:
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    forged = await client.post(
                        f"http://127.0.0.1:{port}/",
                        content=b'{"type":"api_key.revoked"}',
                        headers={
                            "webhook-id": "evt_forged",
                            "webhook-timestamp": str(int(time.time())),
                            "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                        },
                    )
                    break
                except httpx.TransportError:
                    assert process.poll() is None and time.monotonic() < deadline
                    await asyncio.sleep(0.1)
        assert forged.status_code == 400

        bot = await make_bot(app, org)
        async with app.state.sessionmaker() as session:
            conversation, _ = await conversations.start_conversation(session, bot)
            await session.commit()
        assert await worker.run_once() == 1
        (delivery,) = await deliveries_of(app, endpoint.id)
        assert delivery.status == "succeeded"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"conversation.created {conversation.id}" in output
