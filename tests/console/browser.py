"""Driving Debian's chromium through its chromedriver (never a downloaded one), with every
request for a non-loopback host caught by a tripwire proxy."""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chrome(download_dir: Path, proxy_port: int):  # -> selenium WebDriver
    """A headless Chromium; missing browser is a skip on a laptop and a failure in CI."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "apt-get install chromium chromium-driver for the browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs the browser: {message}")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-default-apps", "--disable-sync", "--no-pings",
                     "--disable-client-side-phishing-detection", "--disable-domain-reliability",
                     "--disable-features=AutofillServerCommunication,OptimizationHints,"
                     "MediaRouter,Translate,InterestFeedContentSuggestions"):  # fmt: skip
        options.add_argument(argument)
    options.add_argument(f"--proxy-server=http://127.0.0.1:{proxy_port}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
    )
    return driver


# Hosts Chromium itself calls (sign-in, updates, safe browsing) whatever page it shows, even
# with background networking off; none of them appears in the hostile corpus, so a request for
# one cannot come from a message. The tripwire answers them 502 like any other: nothing leaves.
BROWSER_OWN = ("accounts.google.com", "clients2.google.com", "update.googleapis.com",
               "safebrowsing.googleapis.com", "optimizationguide-pa.googleapis.com",
               "content-autofill.googleapis.com", "www.google.com", ".gvt1.com")  # fmt: skip


class Tripwire:
    """The browser's proxy for every non-loopback URL: it records each request and answers 502,
    so a test sees any request that tried to leave, whichever browser process (a sandboxed
    frame runs in a process of its own) made it. Loopback never goes through a proxy."""

    @property
    def from_pages(self) -> list[str]:
        """The recorded requests less the browser's own (BROWSER_OWN)."""
        return [r for r in self.requests if not any(host in r for host in BROWSER_OWN)]

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Record(BaseHTTPRequestHandler):
            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if self.raw_requestline and self.parse_request():
                    seen.append(f"{self.command} {self.path}")
                    self.send_error(502, "blocked by the test's tripwire")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
        self.port = self.server.server_address[1]
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def save_screenshot(driver, name: str, fallback: Path) -> None:
    """Into CONSOLE_SCREENSHOTS (the README's pictures come from `CONSOLE_SCREENSHOTS=docs`),
    else the test's temporary directory."""
    directory = Path(os.environ.get("CONSOLE_SCREENSHOTS") or fallback)
    directory.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(directory / name))
