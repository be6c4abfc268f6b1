"""Which peers may say who the client is: the trusted proxies of FORWARDED_ALLOW_IPS.

The convention is uvicorn's: a comma-separated list of addresses and networks
(``127.0.0.1``, ``10.0.0.0/8``, ``::1``) or ``*`` for any peer. A request from a
trusted peer is attributed to the right-most ``X-Forwarded-For`` entry that is not
itself a trusted proxy (each proxy appends the address it saw, so entries left of
the last untrusted one may be forged). A request from any other peer is attributed to
the peer, whatever its headers say.

Used for the per-address limits on both ports: the HTTP server rewrites the ASGI
``client`` this way (uvicorn's proxy-headers middleware, same setting) and the
WebSocket port applies :meth:`TrustedProxies.client_ip` to the upgrade request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

__all__ = ["TrustedProxies", "peer_host"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_host(peer: str | None) -> str:
    """The address part of ``"host:port"`` (``"[::1]:5"`` or ``"::1:5"`` for IPv6)."""
    if not peer:
        return "unknown"
    host, sep, port = peer.rpartition(":")
    if not sep or not port.isdigit():
        return peer
    return host.strip("[]")


class TrustedProxies:
    """Parsed FORWARDED_ALLOW_IPS; see the module docstring."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.any = False
        self._hosts: set[str] = set()
        self._networks: list[_Network] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item == "*":
                self.any = True
            elif "/" in item:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            else:
                self._hosts.add(item)

    def is_trusted(self, host: str) -> bool:
        """Whether ``host`` (an address, no port) is a trusted proxy."""
        if self.any or host in self._hosts:
            return True
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client_ip(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's address for a request from ``peer`` (``"host:port"``) with
        lower-case ``headers``."""
        host = peer_host(peer)
        if not self.is_trusted(host):
            return host
        forwarded = headers.get("x-forwarded-for")
        if not forwarded:
            return host
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop[:64]
        return hops[0][:64] if hops else host
