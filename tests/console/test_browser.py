"""The console in a real browser (Debian's chromium via chromedriver) over a real stack: SMTP →
`mailbus listen` → Redis → `mailbus worker`, and `mailbus console` with a token, on loopback."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
import redis
from rq.registry import FailedJobRegistry
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from mailbus.queue import message_queue
from mailbus.redis_server import free_port
from mailbus.settings import Settings
from tests.console.browser import BROWSER_OWN, Tripwire, chrome, save_screenshot
from tests.console.conftest import TOKEN
from tests.console.hostile import corpus
from tests.e2e.harness import PNG, MailbusProcess, mailbus_env, multipart_message, queued_id, send

pytestmark = pytest.mark.e2e


class Stack:
    def __init__(self, env: dict[str, str], console_port: int, fail_flag: Path) -> None:
        self.env = env
        self.smtp = int(env["MAILBUS_PORT"])
        self.url = f"http://127.0.0.1:{console_port}"
        self.fail_flag = fail_flag

    def send(self, raw: bytes) -> str:
        code, reply = send(self.smtp, raw)
        assert code == 250, reply
        return queued_id(reply)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_server) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    redis.Redis.from_url(redis_server.url).flushdb()
    console_port = free_port()
    flag = tmp / "fail.flag"
    env = mailbus_env(
        tmp, redis_server.url, f"file://{tmp / 'store'}",
        MAILBUS_RETRIES="0", MAILBUS_CONSOLE_TOKEN=TOKEN, MAILBUS_CONSOLE_PORT=str(console_port),
        E2E_FAIL_FLAG=str(flag), MAILBUS_LOG_LEVEL="warning",
    )  # fmt: skip
    processes = [
        MailbusProcess(env, tmp / "listener.log", "listen", port=int(env["MAILBUS_PORT"])),
        MailbusProcess(env, tmp / "worker.log", "worker"),
        MailbusProcess(env, tmp / "console.log", "console", port=console_port),
    ]
    try:
        yield Stack(env, console_port, flag)
    finally:
        for process in processes:
            process.stop()


@pytest.fixture(scope="module")
def browser(stack: Stack, tmp_path_factory) -> Iterator:
    downloads = tmp_path_factory.mktemp("downloads")
    tripwire = Tripwire()
    driver = chrome(downloads, tripwire.port)
    driver.download_dir = downloads
    driver.tripwire = tripwire
    try:
        driver.get(stack.url + "/messages")
        assert "/login" in driver.current_url  # no token, no messages
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "form.login button").click()
        WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/messages"))
        yield driver
    finally:
        driver.quit()
        tripwire.close()


def wait(driver, condition, timeout: float = 15.0):
    """Until `condition`; the page replaces its live parts every second, so a stale element
    only means "look again"."""
    ignored = [StaleElementReferenceException]
    return WebDriverWait(driver, timeout, 0.1, ignored_exceptions=ignored).until(condition)


def test_mail_sent_over_smtp_appears_in_the_list_within_two_seconds(
    stack: Stack, browser, tmp_path: Path
) -> None:
    for subject in ("Invoice 2026-114", "Re: meeting notes"):
        stack.send(multipart_message(subject))
    browser.get(stack.url + "/messages")
    message_id = stack.send(multipart_message("Printer on fire"))
    answered = time.monotonic()
    row = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-id="{message_id}"]'))
    assert time.monotonic() - answered < 2.0
    assert "Printer on fire" in row[0].text and "ada@example.org" in row[0].text
    done = f'tr[data-id="{message_id}"] .status.done'
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, done))
    save_screenshot(browser, "console-list.png", tmp_path)


def test_a_message_shows_its_body_timeline_and_attachment_download(
    stack: Stack, browser, tmp_path: Path
) -> None:
    stack.send(multipart_message("Toner low"))
    browser.get(stack.url + "/messages")
    link = wait(browser, lambda d: d.find_elements(By.LINK_TEXT, "Toner low"))
    link[0].click()
    wait(browser, lambda d: d.find_element(By.ID, "status").text == "done")
    assert "The printer is on fire." in browser.find_element(By.ID, "text-body").text
    timeline = browser.find_element(By.ID, "timeline").text
    for event in ("received", "stored", "queued", "done"):
        assert event in timeline
    save_screenshot(browser, "console-message.png", tmp_path)
    browser.find_element(By.CSS_SELECTOR, "a.attachment").click()
    saved = browser.download_dir / "fire.png"
    wait(browser, lambda d: saved.exists() and saved.read_bytes() == PNG)


def test_a_dead_letter_requeued_from_the_console_turns_done(stack: Stack, browser) -> None:
    stack.fail_flag.touch()  # the handler fails while the flag exists; no retries: dead at once
    try:
        message_id = stack.send(multipart_message("Fails until fixed"))
        browser.get(f"{stack.url}/messages/{message_id}")
        wait(browser, lambda d: d.find_element(By.ID, "status").text == "dead")
    finally:
        stack.fail_flag.unlink()  # the fix is deployed
    browser.get(stack.url + "/dead")
    assert "handler told to fail by the test" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.LINK_TEXT, message_id).click()
    browser.find_element(By.ID, "requeue").click()
    wait(browser, lambda d: d.find_element(By.ID, "status").text == "done")
    assert "requeued" in browser.find_element(By.ID, "timeline").text


def test_hostile_mail_runs_nothing_and_reaches_no_remote_host(stack: Stack, browser) -> None:
    messages = corpus()
    assert not any(host.encode() in raw for host in BROWSER_OWN for raw in messages.values())
    ids = {name: stack.send(raw) for name, raw in messages.items()}
    browser.tripwire.requests.clear()
    for message_id in ids.values():
        browser.get(f"{stack.url}/messages/{message_id}")
        wait(browser, lambda d: d.find_element(By.ID, "status").text in ("done", "dead"), 60)
        _assert_inert(browser)
        frames = browser.find_elements(By.ID, "html-body")
        if frames:
            assert frames[0].get_attribute("sandbox") == ""
            browser.switch_to.frame(frames[0])
            assert "nothing here should run" in browser.find_element(By.TAG_NAME, "body").text
            browser.find_element(By.ID, "js").click()
            browser.find_element(By.ID, "go").click()  # a form in a sandbox may not submit
            time.sleep(0.5)
            _assert_inert(browser)
            browser.switch_to.default_content()
            _assert_inert(browser)
        assert browser.find_element(By.CSS_SELECTOR, "header nav").is_displayed()
    huge_title = browser.find_element(By.CSS_SELECTOR, "h1.subject").text
    assert len(huge_title) < 1000 and "characters)" in huge_title
    browser.get(f"{stack.url}/messages/{ids['rtl']}")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.attachment")]
    assert all("\u202e" not in name for name in names), names
    browser.get(stack.url + "/messages")  # the list with all of them still works
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-id="{ids["huge"]}"]'))
    _assert_inert(browser)
    assert browser.tripwire.from_pages == [], "requests left for a remote host"


def _assert_inert(driver) -> None:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        pass
    else:
        raise AssertionError(f"an alert ran: {alert.text}")
    assert driver.execute_script("return typeof window.__pwned") == "undefined"


def test_without_the_token_the_console_refuses(stack: Stack, browser) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(stack.url + "/messages", timeout=10)
    refused.value.close()  # the error holds the response and its socket
    assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as refused:
        _fetch(stack, "/messages", Authorization="Bearer not-the-token")
    refused.value.close()
    assert refused.value.code == 401
    cookies = browser.get_cookies()
    browser.delete_all_cookies()
    try:
        browser.get(stack.url + "/dead")
        assert "/login" in browser.current_url
        assert "Dead letters" not in browser.find_element(By.TAG_NAME, "main").text
    finally:
        for cookie in cookies:
            browser.add_cookie(cookie)


def test_a_cross_site_post_is_refused(stack: Stack, browser, redis_server) -> None:
    stack.fail_flag.touch()
    try:
        message_id = stack.send(multipart_message("Stays dead"))
        browser.get(f"{stack.url}/messages/{message_id}")
        wait(browser, lambda d: d.find_element(By.ID, "status").text == "dead")
    finally:
        stack.fail_flag.unlink()
    page = (
        f'<form id="attack" method="post" action="{stack.url}/messages/{message_id}/requeue">'
        '<input name="csrf" value="guessed"><button id="fire">win a prize</button></form>'
    ).encode()
    with _site(page) as attacker:  # another site: "localhost" is not the site "127.0.0.1"
        browser.get(attacker)
        browser.find_element(By.ID, "fire").click()
        wait(browser, lambda d: d.current_url.startswith(stack.url))
        assert any(code in browser.page_source for code in ("401", "403"))
    settings = Settings(queue=stack.env.get("MAILBUS_QUEUE", "mailbus"))
    connection = redis.Redis.from_url(redis_server.url)
    assert message_id in FailedJobRegistry(queue=message_queue(connection, settings))
    browser.get(f"{stack.url}/messages/{message_id}")
    assert browser.find_element(By.ID, "status").text == "dead"


class _site:
    """A one-page web server for `localhost` (another site than the console's 127.0.0.1)."""

    def __init__(self, page: bytes) -> None:
        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> str:
        return f"http://localhost:{self.server.server_address[1]}/"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fetch(stack: Stack, path: str, **headers: str) -> bytes:
    request = urllib.request.Request(
        stack.url + path, headers={"Authorization": f"Bearer {TOKEN}", **headers}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()
