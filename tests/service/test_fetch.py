"""Outbound fetch guards, against the static server on 127.0.0.1 (and stubbed resolvers)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service.iiif.fetch import (
    BadURL,
    Fetcher,
    FetchError,
    FetchPolicy,
    HostRefused,
    NotJSON,
    TooLarge,
    UpstreamHTTPError,
    UpstreamNotFound,
    UpstreamTimeout,
)
from tests.conftest import IIIFSite


def make_fetcher(**policy: object) -> tuple[Fetcher, list[float]]:
    slept: list[float] = []
    settings = {"allow_hosts": frozenset({"127.0.0.1"}), "retries": 2, **policy}
    return Fetcher(FetchPolicy(**settings), sleep=slept.append), slept  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "http:///x", "x"])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(BadURL):
        make_fetcher()[0].check_url(url)


def test_loopback_outside_the_allow_list_is_refused() -> None:
    fetcher, _ = make_fetcher()
    with pytest.raises(HostRefused):
        fetcher.get("http://127.0.0.2:9/never-contacted")


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "192.168.0.4", "169.254.169.254", "::1", "fc00::1"]
)
def test_private_addresses_are_refused(address: str) -> None:
    fetcher, _ = make_fetcher()
    fetcher.resolve = lambda host: [address]
    with pytest.raises(HostRefused, match=address.split("%")[0]):
        fetcher.check_url("http://library.example/manifest.json")


def test_a_host_with_any_private_address_is_refused() -> None:
    fetcher, _ = make_fetcher()
    fetcher.resolve = lambda host: ["93.184.216.34", "10.0.0.1"]
    with pytest.raises(HostRefused):
        fetcher.check_url("https://library.example/manifest.json")
    fetcher.resolve = lambda host: ["93.184.216.34"]
    assert fetcher.check_url("https://library.example/manifest.json") == "library.example"


def test_redirects_are_checked_too(iiif_site: IIIFSite) -> None:
    fetcher, _ = make_fetcher()
    url = iiif_site.script("redirect-out", (302, {"Location": "http://127.0.0.2:9/x"}, b""))
    with pytest.raises(HostRefused):
        fetcher.get(url)
    inside = iiif_site.script("redirect-in", (301, {"Location": "/plain.png"}, b""))
    assert fetcher.get(inside).content.startswith(b"\x89PNG")


def test_retries_honour_retry_after(iiif_site: IIIFSite) -> None:
    fetcher, slept = make_fetcher(retry_after_max=30.0)
    url = iiif_site.script(
        "flaky.json",
        (503, {"Retry-After": "7"}, b"busy"),
        (429, {}, b"slow down"),
        (200, {"Content-Type": "application/json"}, b'{"ok": true}'),
    )
    assert fetcher.get_json(url) == {"ok": True}
    assert slept == [7.0, 1.0]  # Retry-After, then exponential backoff (0.5 * 2)


def test_retries_give_up(iiif_site: IIIFSite) -> None:
    fetcher, slept = make_fetcher(retry_after_max=2.0)
    url = iiif_site.script("down.json", (503, {"Retry-After": "3600"}, b""))
    with pytest.raises(UpstreamHTTPError) as err:
        fetcher.get(url)
    assert err.value.upstream_status == 503
    assert slept == [2.0, 2.0]  # capped


def test_not_found_is_not_retried(iiif_site: IIIFSite) -> None:
    fetcher, slept = make_fetcher()
    with pytest.raises(UpstreamNotFound):
        fetcher.get(iiif_site.static("missing.json"))
    assert slept == []


def test_response_size_limit(iiif_site: IIIFSite) -> None:
    fetcher, _ = make_fetcher(max_bytes=1000)
    with pytest.raises(TooLarge):  # refused from Content-Length alone
        fetcher.get(iiif_site.static("plain.png"))


def test_streamed_size_limit(iiif_site: IIIFSite) -> None:
    fetcher, _ = make_fetcher(max_bytes=1000)
    url = iiif_site.script("chunked", (200, {"Content-Length": ""}, b"y" * 5000))
    with pytest.raises(TooLarge):
        fetcher.get(url)


def test_not_json(iiif_site: IIIFSite) -> None:
    fetcher, _ = make_fetcher()
    with pytest.raises(NotJSON):
        fetcher.get_json(iiif_site.static("plain.png"))


def test_user_agent_is_sent(iiif_site: IIIFSite) -> None:
    fetcher, _ = make_fetcher(user_agent="florilege-test/1")
    sent = {}

    def spy(*args: object, **kwargs: object) -> object:
        sent.update(kwargs["headers"])  # type: ignore[arg-type]
        return original(*args, **kwargs)

    original = fetcher.session.get
    fetcher.session.get = spy  # type: ignore[method-assign]
    fetcher.get(iiif_site.static("plain.png"))
    assert sent["User-Agent"] == "florilege-test/1"


def test_slow_servers_time_out(iiif_site: IIIFSite) -> None:
    fetcher, slept = make_fetcher(timeout=0.3, retries=1)
    url = iiif_site.script("slow.json", (200, {"X-Delay": "1"}, b"{}"))
    with pytest.raises(UpstreamTimeout):
        fetcher.get(url)
    assert slept == [0.5]  # a timeout is retried once, then reported


def test_per_host_concurrency_limit(iiif_site: IIIFSite) -> None:
    fetcher, _ = make_fetcher(per_host=1)
    url = iiif_site.script("queue.json", (200, {"X-Delay": "0.3"}, b"{}"))
    start = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: fetcher.get(url), range(3)))
    assert time.monotonic() - start >= 0.9  # one at a time


class _EchoHost(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that a second request reuses the socket

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[int]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A loopback server that answers with the Host header it was sent."""
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHost))


@pytest.fixture
def tls_echo(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The same over TLS, with a self-signed certificate for books.test only."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=books.test"]
        + ["-addext", "subjectAltName=DNS:books.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHost)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for port in _serve(server):
        yield port, cert


def rebinding(*answers: list[str]) -> tuple[list[str], object]:
    """A resolver answering ``answers`` in turn (the last one repeats), and the hosts asked."""
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return asked, resolve


def test_dns_rebinding_is_refused_at_connect(iiif_site: IIIFSite) -> None:
    # "localhost" is not in the allow list. Resolved by the system, as requests would do on its
    # own, it reaches the static server on 127.0.0.1: the connection must use the guard instead.
    fetcher, _ = make_fetcher()
    asked, fetcher.resolve = rebinding(["93.184.216.34"], ["127.0.0.2"])  # type: ignore[assignment]
    port = urlsplit(iiif_site.static_base).port
    with pytest.raises(HostRefused, match="127.0.0.2"):
        fetcher.get(f"http://localhost:{port}/plain.png")
    assert asked == ["localhost", "localhost"]  # once for the check, once for the connection


def test_connections_go_to_the_vetted_address_with_the_host_name(echo_port: int) -> None:
    # books.test has no DNS entry: only the guard's answer can have led the socket to loopback.
    fetcher, _ = make_fetcher(allow_hosts=frozenset({"books.test"}))
    asked, fetcher.resolve = rebinding(["127.0.0.1"])  # type: ignore[assignment]
    response = fetcher.get(f"http://books.test:{echo_port}/")
    assert response.content == f"books.test:{echo_port}".encode()
    assert asked == ["books.test", "books.test"]
    fetcher.get(f"http://books.test:{echo_port}/again")  # a kept-alive connection: no new lookup
    assert len(asked) == 3  # only the check


def test_tls_keeps_the_host_name_for_sni_and_certificate(tls_echo: tuple[int, Path]) -> None:
    port, cert = tls_echo
    fetcher, _ = make_fetcher(allow_hosts=frozenset({"books.test", "other.test"}), retries=0)
    fetcher.session.verify = str(cert)
    fetcher.resolve = lambda host: ["127.0.0.1"]
    # The socket goes to 127.0.0.1, yet the certificate is checked against the name in the URL.
    assert fetcher.get(f"https://books.test:{port}/").content == f"books.test:{port}".encode()
    with pytest.raises(FetchError, match="other.test"):
        fetcher.get(f"https://other.test:{port}/")


def test_the_http_cache_answers_a_second_fetch(iiif_site: IIIFSite, tmp_path: Path) -> None:
    fetcher, _ = make_fetcher(cache=str(tmp_path / "cache"))
    url = iiif_site.publish("cached/doc.json", {"n": 1})
    assert fetcher.get_json(url) == fetcher.get_json(url) == {"n": 1}
    assert iiif_site.seen.count("/cached/doc.json") == 1
    again, _ = make_fetcher(cache=str(tmp_path / "cache"))  # kept on disk, for the next run
    assert again.get_json(url) == {"n": 1} and iiif_site.seen.count("/cached/doc.json") == 1


def test_the_http_cache_stores_neither_cut_nor_forbidden_responses(
    iiif_site: IIIFSite, tmp_path: Path
) -> None:
    fetcher, _ = make_fetcher(cache=str(tmp_path), max_bytes=1000)
    # Far more than the fetcher reads at once (64 KiB): it stops reading long before the end.
    big = iiif_site.script("cached/big", (200, {"Content-Length": ""}, b"y" * 300_000))
    private = iiif_site.script("cached/private", (200, {"Cache-Control": "no-store"}, b"{}"))
    for _ in range(2):
        with pytest.raises(TooLarge):  # cut by the fetcher: never complete, never stored
            fetcher.get(big)
        fetcher.get(private)
    assert iiif_site.seen.count("/cached/big") == iiif_site.seen.count("/cached/private") == 2


def test_the_http_cache_keeps_the_dns_rebinding_guard(iiif_site: IIIFSite, tmp_path: Path) -> None:
    fetcher, _ = make_fetcher(cache=str(tmp_path))
    asked, fetcher.resolve = rebinding(["93.184.216.34"], ["127.0.0.2"])  # type: ignore[assignment]
    port = urlsplit(iiif_site.static_base).port
    with pytest.raises(HostRefused, match="127.0.0.2"):
        fetcher.get(f"http://localhost:{port}/plain.png")
