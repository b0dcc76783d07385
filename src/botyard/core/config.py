"""Settings read from the environment (prefix ``BOTYARD_``) and an optional ``.env`` file."""

import ipaddress
from functools import lru_cache
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOTYARD_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./botyard.db"
    redis_url: str | None = None
    db_timeout: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds a database connect, pool checkout or statement may take; past it "
        "the request is answered 503 service_unavailable with Retry-After",
    )

    host: str = Field("127.0.0.1", description="Interface `botyard serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="Port `botyard serve` listens on")
    public_url: str = Field(
        "",
        description="The address users reach Botyard at, for links, doc_urls and the demo "
        "login; by default http://<host>:<port> of this server",
    )
    doc_base_url: str | None = Field(
        None, description="Where error doc_urls point; by default this server's /docs/errors"
    )

    default_rate_limit: int = Field(1000, ge=1)
    rate_limit_window: int = Field(3600, ge=1)
    auth_failure_limit: int = Field(
        60,
        ge=1,
        description="Refused authentications (every 401 and 403 of the API) per client "
        "address per window; past it, 429 with Retry-After",
    )

    widget_visitor_limit: int = Field(
        20,
        ge=1,
        description="Website-widget posts (new conversations and messages) per "
        "visitor IP address per minute",
    )
    widget_bot_limit: int = Field(
        20_000,
        ge=1,
        description="Website-widget requests per bot per hour, apart from the "
        "organization's API budget",
    )

    refused_log_per_address: int = Field(
        20,
        ge=1,
        description="Request-log rows per client address per minute for refused "
        "unauthenticated requests (401/403/429); past it they are only counted",
    )

    key_cache_ttl: float = Field(
        0.5, gt=0, description="Seconds a verified key is trusted before it is re-read"
    )
    max_body_bytes: int = Field(1_000_000, ge=1024)

    request_log_flush_interval: float = Field(1.0, gt=0)
    request_log_batch_size: int = Field(
        5000,
        ge=1,
        description="Pending request-log rows that trigger a flush before the interval is up. "
        "Each flush has a fixed cost in the writer (a transaction and the key-usage updates) "
        "that holds the interpreter lock the requests need: under load, one flush a second "
        "costs the serving thread less than one every few hundred requests",
    )
    request_log_retention_days: int = Field(30, ge=1)
    request_log_shutdown_wait: float = Field(
        10.0,
        ge=0,
        description="Seconds a shutdown keeps retrying request-log rows the database will not "
        "take (it is down) before it gives them up with one log line saying how many",
    )

    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that /metrics and the detailed /healthz require; unset, "
        "/metrics answers 404",
    )

    opentelemetry: bool = Field(
        False,
        description="Let FastAPI export OpenTelemetry traces, metrics and logs to the "
        "providers configured in the process; off by default, it costs time on every request",
    )

    @model_validator(mode="after")
    def _public_url_follows_the_port(self) -> Self:
        """Links must work on whatever port was chosen unless the operator names the URL."""
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
            if ":" in host:
                host = f"[{host}]"
            self.public_url = f"http://{host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        return self

    @field_validator("database_url")
    @classmethod
    def _not_in_memory(cls, url: str) -> str:
        """Several connections (and the request-log writer's own) must see one database."""
        database = url.partition("://")[2].lstrip("/")
        if (url.startswith("sqlite") and database in ("", ":memory:")) or "mode=memory" in url:
            raise ValueError(
                "an in-memory SQLite database is not supported: each connection would see "
                "its own empty copy. Use a file, e.g. sqlite+aiosqlite:///./botyard.db"
            )
        return url

    secret_key: SecretStr | None = Field(
        None,
        description="Master key that encrypts webhook and identity secrets at rest (32+ "
        "characters); unset, a random one is kept in secret_key_file",
    )
    secret_key_file: str = Field(
        "./botyard.secret", description="Where the generated master key lives (mode 0600)"
    )

    trusted_proxies: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = (
        Field(
            default_factory=list,
            description="Comma-separated addresses or CIDR networks of the reverse proxies whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed; from any other peer they are "
            "ignored, so a client cannot pick the address that allow-lists, limits and logs see",
        )
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        networks = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return networks

    webhook_allow_private_urls: bool = Field(
        False,
        description="Let webhook URLs be plain http and point at loopback, private, link-local "
        "or CGNAT addresses (a private network, or tests); off, only public https URLs",
    )
    webhook_worker: bool = Field(
        True, description="Run the webhook delivery worker in this process"
    )
    webhook_poll_interval: float = Field(
        1.0, gt=0, description="Seconds between the delivery worker's looks for due deliveries"
    )
    secret_scanning_keys: str | None = Field(
        None,
        description="A file of GitHub's secret scanning public_keys JSON, which verifies "
        "POST /v1/secret-scanning/github; unset, that endpoint is closed",
    )
    credential_revocation_limit: int = Field(
        60, ge=1, description="POST /v1/credentials/revoke calls per client IP per window"
    )
    knowledge_index_memory_mb: int = Field(
        256,
        ge=1,
        description="Estimated memory of all knowledge indexes one process keeps; the least "
        "recently used bot's index is evicted beyond it",
    )
    knowledge_index_bot_memory_mb: int = Field(
        16,
        ge=1,
        description="Estimated memory of one bot's knowledge index; entries past it are not "
        "indexed (the oldest entries are kept)",
    )

    dashboard_write_limit: int = Field(
        300, ge=1, description="Dashboard changes (bots, knowledge, try it) per user per hour"
    )
    dashboard_org_write_limit: int = Field(
        1000, ge=1, description="Dashboard changes per organization per hour, all users together"
    )

    max_header_bytes: int = Field(
        32_768,
        ge=1024,
        description="Request line plus headers, in bytes; larger get 431 and the connection closed",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a connection may take to send a request's headers, from its "
        "first byte (or from connecting); slower ones get 408 and are closed",
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request's body may take to arrive after its headers; slower "
        "ones get 408 and are closed",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections (and requests in progress) per process; past it new "
        "requests get 503 at once",
    )
    keep_alive_timeout: int = Field(
        5, ge=1, description="Seconds an idle keep-alive connection is kept open"
    )

    session_ttl_hours: int = Field(12, ge=1)
    session_idle_minutes: int = Field(
        120, ge=1, description="A dashboard session unused this long ends (besides the TTL)"
    )
    secure_cookies: bool | None = Field(
        None, description="Force the Secure flag on cookies; by default set when served over HTTPS"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
