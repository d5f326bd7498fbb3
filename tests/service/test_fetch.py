"""Outbound fetch guards, against the static server on 127.0.0.1 (and stubbed resolvers)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.iiif.fetch import (
    BadURL,
    Fetcher,
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
