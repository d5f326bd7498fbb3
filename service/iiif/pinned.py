"""A requests transport that connects only to addresses the fetch policy has vetted.

Checking a URL's host and then letting requests resolve it again leaves a window for DNS
rebinding: the name can answer a public address to the check and 127.0.0.1 to the connection.
Here the connection itself asks the guard for the host's addresses (the guard resolves once and
refuses non-public ones) and opens its socket to one of exactly those addresses. Nothing else
changes: the Host header, TLS SNI and certificate checks still use the host name from the URL,
because urllib3 takes them from ``conn.host``, not from the socket.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

# host -> the addresses it may be reached at; raises (a FetchError) when it may not be reached.
Guard = Callable[[str], Sequence[str]]


def _open(conn: HTTPConnection, guard: Guard) -> socket.socket:
    """The socket for ``conn``, opened to the first vetted address that answers."""
    failure: OSError | None = None
    for address in guard(conn.host):
        try:
            return connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as err:
            raise ConnectTimeoutError(conn, f"connecting to {conn.host} timed out") from err
        except OSError as err:
            failure = err
    raise NewConnectionError(conn, f"cannot connect to {conn.host}: {failure}")


class _Pinned(HTTPConnection):
    """Adds the ``guard`` keyword urllib3 passes through from the pool's ``conn_kw``."""

    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard = guard

    def _new_conn(self) -> socket.socket:
        return _open(self, self._guard)


class PinnedHTTPConnection(_Pinned):
    pass


class PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


_CONNECTIONS = {"http": PinnedHTTPConnection, "https": PinnedHTTPSConnection}


class _PinnedPoolManager(PoolManager):
    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._guard = guard

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        # urllib3 documents _new_pool as the hook for customising the pools it creates.
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _CONNECTIONS[scheme]
        pool.conn_kw["guard"] = self._guard
        return pool


class PinnedAdapter(HTTPAdapter):
    """Mount on a session for http:// and https:// so that every connection goes through
    ``guard``. Proxies are not pinned (the proxy resolves the name), so the fetcher's session
    ignores proxy settings from the environment."""

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self.poolmanager = _PinnedPoolManager(
            self._guard, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )
