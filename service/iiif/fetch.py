"""Outbound HTTP for manifests, info.json and images, with the guards a public service needs.

Every URL a user hands us is fetched by the server, so each request (and each redirect) is
checked: only http(s), and no private, loopback or link-local address unless the host is in
``FLORILEGE_ALLOW_HOSTS``. The check is made again when a connection is opened, on the very
addresses the socket then connects to (``service/iiif/pinned.py``), so that a name answering a
public address to the check and a private one to the connection (DNS rebinding) gets nowhere.
Responses are streamed and cut at a byte limit and a total deadline;
transient failures are retried with backoff that honours ``Retry-After``; a semaphore per host
keeps us from hammering one library's server.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from service.iiif.pinned import PinnedAdapter

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5

Resolver = Callable[[str], Iterable[str]]


class FetchError(Exception):
    """A fetch that failed; ``code`` and ``status`` are what the HTTP API reports."""

    code = "fetch_failed"
    status = 502

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class BadURL(FetchError):
    code, status = "bad_url", 400


class HostRefused(FetchError):
    code, status = "host_not_allowed", 403


class UpstreamHTTPError(FetchError):
    code, status = "upstream_error", 502

    def __init__(self, message: str, url: str = "", upstream_status: int = 0) -> None:
        super().__init__(message, url)
        self.upstream_status = upstream_status


class UpstreamNotFound(UpstreamHTTPError):
    code = "upstream_not_found"


class TooLarge(FetchError):
    code, status = "upstream_too_large", 502


class UpstreamTimeout(FetchError):
    code, status = "upstream_timeout", 504


class NotJSON(FetchError):
    code, status = "upstream_not_json", 502


def system_resolve(host: str) -> list[str]:
    """All addresses ``host`` resolves to (a host is refused if any of them is private)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as err:
        raise BadURL(f"cannot resolve {host}: {err}") from err
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    allow_hosts: frozenset[str] = frozenset()
    timeout: float = 20.0
    max_bytes: int = 50 * 1024 * 1024
    retries: int = 3
    retry_after_max: float = 30.0
    per_host: int = 4
    user_agent: str = "florilege"
    cache: str | None = None  # a folder for the optional HTTP cache (service/iiif/cache.py)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FetchPolicy:
        return cls(
            allow_hosts=frozenset(h.lower() for h in config["ALLOW_HOSTS"]),
            timeout=config["FETCH_TIMEOUT"],
            max_bytes=config["FETCH_MAX_BYTES"],
            retries=config["FETCH_RETRIES"],
            retry_after_max=config["RETRY_AFTER_MAX"],
            per_host=config["FETCH_PER_HOST"],
            user_agent=config["USER_AGENT"],
            cache=config["HTTP_CACHE"],
        )


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    content: bytes
    content_type: str
    retry_after: str = ""


@dataclass
class Fetcher:
    """Thread-safe fetcher; one per app, shared by requests and job threads."""

    policy: FetchPolicy
    session: requests.Session = field(default_factory=requests.Session)
    resolve: Resolver = system_resolve
    sleep: Callable[[float], None] = time.sleep
    _slots: dict[str, threading.BoundedSemaphore] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Every connection this session opens goes through `addresses`. Proxies from the
        # environment are ignored: a proxy resolves names itself, out of our reach.
        self.session.trust_env = False
        adapter = self._adapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _adapter(self) -> PinnedAdapter:
        if self.policy.cache is None:
            return PinnedAdapter(self.addresses)
        try:  # an optional extra: imported only when a cache is asked for
            from service.iiif.cache import caching_adapter
        except ImportError as err:
            raise RuntimeError(
                f"an HTTP cache needs CacheControl ({err}): pip install 'florilege[cache]'"
            ) from err
        return caching_adapter(self.addresses, self.policy.cache)

    def check_url(self, url: str) -> str:
        """Raise unless ``url`` may be fetched; return its host."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadURL(f"only http(s) URLs can be fetched, got {url!r}", url)
        host = parts.hostname.lower()
        self.addresses(host, url)
        return host

    def addresses(self, host: str, url: str = "") -> list[str]:
        """The addresses ``host`` may be reached at: all it resolves to if it is allowed, else
        only when every one is public (one private answer is enough to refuse the host)."""
        found = list(self.resolve(host))
        if host.lower() in self.policy.allow_hosts:
            return found
        for address in found:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise HostRefused(f"{host} resolves to non-public address {ip}", url or host)
        return found

    def get(self, url: str, accept: str = "*/*") -> Response:
        """GET ``url`` following checked redirects, with retries; raise a ``FetchError``."""
        for _ in range(MAX_REDIRECTS + 1):
            host = self.check_url(url)
            response = self._with_retries(url, host, accept)
            if response.status not in (301, 302, 303, 307, 308):
                return response
            location = response.content.decode("utf-8", "replace")
            url = urljoin(url, location)
        raise UpstreamHTTPError(f"too many redirects from {url}", url)

    def get_json(self, url: str) -> Any:
        response = self.get(url, accept="application/ld+json, application/json;q=0.9")
        try:
            return json.loads(response.content)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise NotJSON(f"{url} did not return JSON: {err}", url) from err

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._slots:
                self._slots[host] = threading.BoundedSemaphore(self.policy.per_host)
            return self._slots[host]

    def _with_retries(self, url: str, host: str, accept: str) -> Response:
        attempt = 0
        while True:
            delay: float | None = None
            try:
                with self._slot(host):
                    response = self._once(url, accept)
                if response.status not in RETRY_STATUSES:
                    return _raise_for_status(response)
                delay = _retry_after(response)
                failure: FetchError = UpstreamHTTPError(
                    f"{url} answered HTTP {response.status}", url, response.status
                )
            except (UpstreamTimeout, requests.ConnectionError) as err:
                failure = err if isinstance(err, FetchError) else FetchError(str(err), url)
            if attempt >= self.policy.retries:
                raise failure
            backoff = 0.5 * 2**attempt if delay is None else delay
            self.sleep(min(backoff, self.policy.retry_after_max))
            attempt += 1

    def _once(self, url: str, accept: str) -> Response:
        deadline = time.monotonic() + self.policy.timeout
        headers = {"User-Agent": self.policy.user_agent, "Accept": accept}
        try:
            with self.session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=self.policy.timeout,
            ) as raw:
                if raw.is_redirect:
                    return Response(url, raw.status_code, raw.headers["Location"].encode(), "")
                return Response(
                    url,
                    raw.status_code,
                    self._read(raw, url, deadline),
                    raw.headers.get("Content-Type", ""),
                    raw.headers.get("Retry-After", ""),
                )
        except requests.Timeout as err:
            raise UpstreamTimeout(f"{url} timed out after {self.policy.timeout}s", url) from err

    def _read(self, raw: requests.Response, url: str, deadline: float) -> bytes:
        limit = self.policy.max_bytes
        declared = raw.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"{url} is {declared} bytes, more than the {limit} allowed", url)
        chunks, size = [], 0
        for chunk in raw.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{url} is more than the {limit} bytes allowed", url)
            if time.monotonic() > deadline:
                raise UpstreamTimeout(f"{url} took more than {self.policy.timeout}s", url)
            chunks.append(chunk)
        return b"".join(chunks)


def _raise_for_status(response: Response) -> Response:
    if response.status == 404 or response.status == 410:
        raise UpstreamNotFound(
            f"{response.url} answered HTTP {response.status}", response.url, response.status
        )
    if response.status >= 400:
        raise UpstreamHTTPError(
            f"{response.url} answered HTTP {response.status}", response.url, response.status
        )
    return response


def _retry_after(response: Response) -> float | None:
    """Seconds asked for by ``Retry-After`` (seconds or an HTTP date), if any."""
    value = response.retry_after.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
