"""Python client for the Botyard API.

>>> from botyard_sdk import Botyard
>>> client = Botyard()  # reads BOTYARD_API_KEY and BOTYARD_BASE_URL
>>> for bot in client.bots.list():
...     print(bot.id, bot.name)
"""

from botyard_sdk._client import AsyncBotyard, Botyard
from botyard_sdk._operations import CLEAR, AsyncPager, Pager
from botyard_sdk._version import __version__
from botyard_sdk.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BotyardError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
    WebhookVerificationError,
)
from botyard_sdk.types import Page

__all__ = [
    "CLEAR",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncBotyard",
    "AsyncPager",
    "AuthenticationError",
    "Botyard",
    "BotyardError",
    "ConflictError",
    "NotFoundError",
    "Page",
    "Pager",
    "PermissionDeniedError",
    "RateLimitError",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
]
