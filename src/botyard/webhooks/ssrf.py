"""Where a webhook may be sent: public https addresses only, checked after resolving the name.

A webhook URL is chosen by a customer and fetched by the server, so without this rule it
reaches whatever the server can reach: its own admin ports, the cloud's metadata service, the
private network. The rule is checked when an endpoint is saved and again before each delivery,
against the addresses the name resolves to *then* (a name can be re-pointed after it was
checked: DNS rebinding); the delivery then connects to the address that was checked.
``BOTYARD_WEBHOOK_ALLOW_PRIVATE_URLS=true`` lifts both rules, for a private network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

URL_MAX = 2048
CGNAT = ipaddress.ip_network("100.64.0.0/10")
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(Exception):
    """The URL may not receive webhooks; the message says why, for the API error and the log."""


@dataclass(frozen=True, slots=True)
class Target:
    """A vetted destination: the URL as given, and the address to connect to."""

    url: str
    host: str
    port: int
    address: str


def address_class(address: IPAddress) -> str | None:
    """Why an address may not receive webhooks (None when it is a public one)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = address_class(embedded)
            return f"{reason} (inside the IPv6 address {address})" if reason else None
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "a carrier-grade NAT (CGNAT) address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The host and port of a well-formed webhook URL, or UnsafeURL saying what is wrong."""
    if len(url) > URL_MAX:
        raise UnsafeURL(f"the URL is longer than {URL_MAX} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("the URL is not valid") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeURL("the URL must start with https://")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("the URL may not carry a user name or password")
    if parts.fragment:
        raise UnsafeURL("the URL may not have a #fragment")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def vet(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Resolve the URL's host and refuse it unless every address it gives is public."""
    host, port = parse_url(url, allow_private=allow_private)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolver(host, port)
        except (OSError, UnicodeError):
            raise UnsafeURL(f"the host {host} cannot be resolved") from None
        if not addresses:
            raise UnsafeURL(f"the host {host} cannot be resolved")
    if not allow_private:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            reason = address_class(address)
            if reason is not None:
                shown = host if literal is not None else f"{host} resolves to {address}, which"
                raise UnsafeURL(
                    f"{shown} is {reason}; webhooks go only to public addresses "
                    "(set BOTYARD_WEBHOOK_ALLOW_PRIVATE_URLS=true for a private network)"
                )
    return Target(url=url, host=host, port=port, address=addresses[0])
