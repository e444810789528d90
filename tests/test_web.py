"""The web page in a real browser: headless Chromium (Debian's chromium + chromium-driver,
installed by scripts/setup_browser.sh) driven by Selenium against a real `kb serve` process.

The tests do what a person does (type a question, paste a log excerpt, upload a log, follow
links) and assert what the person sees, checked against the JSON API of the same server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pytest
from kbserver import LAB_EXCERPT, ROOT, Served, http_request, kb_serve
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from kb import KnowledgeBase

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1100,1400")
QUESTION = "How do I get rid of the pass phrase dialog at startup?"
STARTUP = """\
[Tue Dec 01 07:51:20.276669 2026] [ssl:info] [pid 25258:tid 25258] AH01914: Configuring server www.ux.test:443 for SSL protocol
[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 25258:tid 25258] AH02565: Certificate and private key www.ux.test:443:0 from /etc/apache2/ssl/server.crt and /etc/apache2/ssl/other.key do not match
AH00016: Configuration Failed
"""  # noqa: E501 - real log lines
CONNECTION = """\
[Tue Dec 01 07:39:59.366777 2026] [ssl:info] [pid 16292:tid 16322] [client 127.0.0.1:48710] AH02008: SSL library error 1 in handshake (server www.ux.test:443)
[Tue Dec 01 07:39:59.366831 2026] [ssl:info] [pid 16292:tid 16322] SSL Library Error: error:0A000418:SSL routines::tlsv1 alert unknown ca (SSL alert number 48)
"""  # noqa: E501 - real log lines


def _executables() -> tuple[str, str]:
    browser = (os.environ.get("KB_CHROMIUM") or shutil.which("chromium")
               or shutil.which("chromium-browser") or "")
    driver = os.environ.get("KB_CHROMEDRIVER") or shutil.which("chromedriver") or ""
    if browser and driver:
        return browser, driver
    message = ("Chromium and ChromeDriver are not installed: run scripts/setup_browser.sh "
               "(the README's test command does), or set KB_CHROMIUM and KB_CHROMEDRIVER")
    if os.environ.get("CI"):
        pytest.fail(message)  # CI must run the browser test, never skip it
    pytest.skip(message)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with kb_serve() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver_path = _executables()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="kb-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def api(served: Served, path: str, body: bytes | None = None) -> Any:
    status, _, data = http_request(served.url, "POST" if body is not None else "GET", path,
                                   body=body)
    assert status == 200, (path, data[:300])
    return data


def wait(browser: WebDriver, css: str, count: int = 1, timeout: float = 20) -> list[WebElement]:
    """The elements matching ``css`` once at least ``count`` of them are shown."""
    def found(driver: WebDriver) -> list[WebElement] | Literal[False]:
        items = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        return items if len(items) >= count else False

    try:
        result: list[WebElement] = WebDriverWait(browser, timeout).until(found)
    except TimeoutException:
        shot = Path(tempfile.gettempdir()) / "kb-web-failure.png"
        browser.save_screenshot(str(shot))
        raise AssertionError(f"no {css!r} within {timeout} s (screenshot: {shot}); page: "
                             f"{browser.find_element(By.TAG_NAME, 'main').text[:500]!r}"
                             ) from None
    return result


def open_page(browser: WebDriver, served: Served, route: str = "#/") -> None:
    """A fresh page (a hash change alone would keep the last test's page)."""
    browser.get("about:blank")
    browser.get(served.url + route)
    wait(browser, "main")


def paste(browser: WebDriver, element: WebElement, text: str) -> None:
    """Put text in as a paste does: all at once, newlines included, no key presses."""
    element.click()
    browser.execute_cdp_cmd("Input.insertText", {"text": text})


def words(element: WebElement) -> str:
    return " ".join((element.get_attribute("textContent") or "").split())


def no_errors_in_console(browser: WebDriver) -> None:
    bad = [entry["message"] for entry in browser.get_log("browser")  # type: ignore[attr-defined]
           if entry["level"] == "SEVERE"]
    assert bad == [], bad


def test_ask_a_question_and_follow_related_entries(browser: WebDriver, served: Served) -> None:
    expected = json.loads(api(served, f"/v1/search?q={quote(QUESTION)}&limit=5"))["hits"]
    open_page(browser, served)
    box = browser.switch_to.active_element  # the question box has the focus on arrival
    assert box.get_attribute("id") == "ask-input"
    box.send_keys(QUESTION)
    box.send_keys(Keys.ENTER)
    card = wait(browser, "#chat .msg.bot .hit")[0]
    title = card.find_element(By.CSS_SELECTOR, "h3 a")
    assert title.text == expected[0]["title"]
    assert "confident" in card.find_element(By.CSS_SELECTOR, ".badge").text
    assert f"{round(expected[0]['confidence'] * 100)}%" in card.text
    assert words(browser.find_element(By.CSS_SELECTOR, "#chat .msg.user")) == QUESTION
    answer = card.find_element(By.CSS_SELECTOR, ".answer")
    assert answer.find_elements(By.CSS_SELECTOR, "p")
    assert card.find_element(By.CSS_SELECTOR, "details.why summary").text == "Why this answer"
    others = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".candidates a")]
    assert others == [hit["title"] for hit in expected[1:]]

    entry = json.loads(api(served, f"/v1/entries/{expected[0]['id']}"))
    related = card.find_elements(By.CSS_SELECTOR, ".related a")
    assert [str(a.get_attribute("href")).rsplit("/", 1)[1] for a in related] == entry["see_also"]
    related[0].click()
    heading = wait(browser, "#entry h1")[0]
    second = json.loads(api(served, f"/v1/entries/{entry['see_also'][0]}"))
    assert heading.text == second["title"] and browser.title.startswith(second["title"][:20])
    assert browser.switch_to.active_element == heading  # focus moves to the new page
    if second["see_also"]:  # a link on an entry page leads to the next entry page
        browser.find_element(By.CSS_SELECTOR, "#entry .related a").click()
        third = json.loads(api(served, f"/v1/entries/{second['see_also'][0]}"))
        # (the page replaces the heading as it renders: one found may be gone when read)
        WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#entry h1").text == third["title"])
    browser.back()
    WebDriverWait(browser, 20).until(lambda d: "#/entries/" in d.current_url)
    no_errors_in_console(browser)


def shows_the_answer(bubble: WebElement, hits: list[dict[str, Any]]) -> None:
    """The answer bubble shows what the API answered: a confident top hit as a card with the
    others listed, or 'no confident answer' and the closest entries."""
    top, rest = hits[0], hits[1:]
    if top["confidence"] >= 0.5:
        card = bubble.find_element(By.CSS_SELECTOR, ".hit")
        assert card.find_element(By.CSS_SELECTOR, "h3 a").text == top["title"]
        listed = rest
    else:
        assert not bubble.find_elements(By.CSS_SELECTOR, ".hit")
        assert "No confident answer" in bubble.text
        listed = hits
    links = [a.text for a in bubble.find_elements(By.CSS_SELECTOR, ".candidates a")]
    assert links == [hit["title"] for hit in listed]
    badges = [b.text for b in bubble.find_elements(By.CSS_SELECTOR, ".candidates .badge")]
    assert badges == [f"{round(h['confidence'] * 100)}% · "
                      f"{'confident' if h['confidence'] >= 0.5 else 'low confidence'}"
                      for h in listed]


@pytest.mark.parametrize("excerpt", [STARTUP, CONNECTION], ids=["startup", "connection"])
def test_paste_a_log_excerpt_into_the_question_box(browser: WebDriver, served: Served,
                                                   excerpt: str) -> None:
    expected = json.loads(api(served, "/v1/search", json.dumps({"q": excerpt}).encode()))
    open_page(browser, served)
    paste(browser, browser.find_element(By.ID, "ask-input"), excerpt)
    assert browser.find_element(By.ID, "ask-input").get_attribute("value") == excerpt
    browser.find_element(By.ID, "ask-button").click()
    bubble = wait(browser, "#chat .msg.bot:not([aria-busy])")[0]
    shows_the_answer(bubble, expected["hits"])
    shown = browser.find_element(By.CSS_SELECTOR, "#chat .msg.user pre")
    assert shown.get_attribute("textContent") == excerpt  # the paste, lines and all
    if expected["hits"][0]["confidence"] >= 0.5:
        why = bubble.find_element(By.CSS_SELECTOR, "details.why")
        opener = why.find_element(By.TAG_NAME, "summary")
        # Long answers put it under the sticky question box: scroll it clear, as a person would.
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", opener)
        opener.click()
        for signal in expected["hits"][0]["why"].get("signals", []):
            assert str(signal["value"]) in why.text


def test_diagnose_an_uploaded_log(browser: WebDriver, served: Served,
                                  shipped: KnowledgeBase) -> None:
    lines = api(served, "/v1/diagnose", LAB_EXCERPT.read_bytes()).decode().splitlines()
    problems = [json.loads(line) for line in lines[:-1]]
    summary = json.loads(lines[-1])
    open_page(browser, served, "#/diagnose")
    browser.find_element(By.ID, "log-file").send_keys(str(LAB_EXCERPT))
    cards = wait(browser, "#report .problem", count=len(problems))
    assert len(cards) == len(problems)
    status = browser.find_element(By.ID, "diagnose-status").text
    assert status == f"Report for {LAB_EXCERPT.name}"
    assert browser.find_element(By.CSS_SELECTOR, "#report .summary").text == (
        f"{summary['lines']} lines read, {summary['problems']} problem(s), "
        f"{summary['matched_lines']} line(s) matched")
    for card, problem in zip(cards, problems, strict=True):  # worst first, as the API says
        assert card.find_element(By.CSS_SELECTOR, "h3 a").text == problem["title"]
        assert card.find_element(By.CSS_SELECTOR, ".count").text == f"{problem['count']}×"
        first = card.find_element(By.CSS_SELECTOR, ".first-step > :last-child")
        assert words(first) == shipped.get(problem["id"]).summary(100_000)
    top = cards[0]
    assert "EMERG" in top.find_element(By.CSS_SELECTOR, ".level").text.upper()
    top.find_element(By.CSS_SELECTOR, ".sample summary").click()
    sample = top.find_element(By.CSS_SELECTOR, ".sample pre")
    assert sample.get_attribute("textContent") == problems[0]["sample"]
    no_errors_in_console(browser)


def test_diagnose_pasted_lines(browser: WebDriver, served: Served) -> None:
    lines = api(served, "/v1/diagnose", STARTUP.encode()).decode().splitlines()
    expected = [json.loads(line) for line in lines[:-1]]
    assert expected, "the excerpt should show a problem"
    open_page(browser, served, "#/diagnose")
    paste(browser, browser.find_element(By.ID, "log-input"), STARTUP)
    browser.find_element(By.ID, "diagnose-button").click()
    cards = wait(browser, "#report .problem", count=len(expected))
    assert [c.find_element(By.CSS_SELECTOR, "h3 a").text for c in cards] == [
        p["title"] for p in expected]
    cards[0].find_element(By.CSS_SELECTOR, "h3 a").click()
    assert wait(browser, "#entry h1")[0].text == expected[0]["title"]


def test_diagnose_a_dropped_file(browser: WebDriver, served: Served) -> None:
    lines = api(served, "/v1/diagnose", STARTUP.encode()).decode().splitlines()
    expected = [json.loads(line)["title"] for line in lines[:-1]]
    open_page(browser, served, "#/diagnose")
    browser.execute_script(  # what a drop of a file from the desktop delivers to the page
        "const data = new DataTransfer();"
        "data.items.add(new File([arguments[0]], 'dropped.log', {type: 'text/plain'}));"
        "document.getElementById('drop').dispatchEvent(new DragEvent('drop',"
        " {dataTransfer: data, bubbles: true, cancelable: true}));", STARTUP)
    cards = wait(browser, "#report .problem", count=len(expected))
    assert [c.find_element(By.CSS_SELECTOR, "h3 a").text for c in cards] == expected
    assert browser.find_element(By.ID, "diagnose-status").text == "Report for dropped.log"


HOSTILE = ('<img src=x onerror="window.pwned=1"> \x1b[31mAH02565\x1b[0m '
           '<script>window.pwned=2</script> \x1b]8;;http://evil.example\x07click\x1b]8;;\x07')


def test_hostile_text_is_shown_as_text(browser: WebDriver, served: Served,
                                       tmp_path: Path) -> None:
    open_page(browser, served)
    paste(browser, browser.find_element(By.ID, "ask-input"), HOSTILE)
    browser.find_element(By.ID, "ask-button").click()
    wait(browser, "#chat .msg.bot:not([aria-busy])")
    shown = browser.find_elements(By.CSS_SELECTOR, "#chat .msg.user pre")[-1]
    text = shown.get_attribute("textContent") or ""
    assert '<img src=x onerror="window.pwned=1">' in text and "<script>" in text
    assert "\\x1b[31mAH02565\\x1b[0m" in text and "\\x07" in text and "\x1b" not in text
    log = tmp_path / "hostile.log"
    log.write_bytes(b"[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 1:tid 1] AH02565: "
                    b"Certificate and private key <img src=x onerror=window.pwned=3> from "
                    b"\x1b[2J\x1b]52;c;ZXZpbA==\x07 and b do not match\n")
    open_page(browser, served, "#/diagnose")
    browser.find_element(By.ID, "log-file").send_keys(str(log))
    card = wait(browser, "#report .problem")[0]
    card.find_element(By.CSS_SELECTOR, ".sample summary").click()
    sample = card.find_element(By.CSS_SELECTOR, ".sample pre").get_attribute("textContent")
    assert sample is not None and "<img src=x onerror=window.pwned=3>" in sample
    assert "\\x1b[2J" in sample and "\x1b" not in sample
    state = browser.execute_script(
        "return [window.pwned, document.querySelectorAll('main img, main script').length,"
        " document.body.innerText.includes('\\u001b')]")
    assert state == [None, 0, False]


def test_entries_page_filters(browser: WebDriver, served: Served) -> None:
    total = len(json.loads(api(served, "/v1/entries"))["entries"])
    open_page(browser, served, "#/entries")
    assert len(wait(browser, "#entry-list li", count=total)) == total
    browser.find_element(By.ID, "filter").send_keys("pass phrase")
    WebDriverWait(browser, 10).until(
        lambda d: 0 < len([e for e in d.find_elements(By.CSS_SELECTOR, "#entry-list li")
                           if e.is_displayed()]) < total)
    visible = [e.find_element(By.TAG_NAME, "a").get_attribute("href")
               for e in browser.find_elements(By.CSS_SELECTOR, "#entry-list li")
               if e.is_displayed()]
    assert any(href.endswith("/remove-passphrase-dialog") for href in visible if href)


def test_keyboard_and_a_phone_sized_window(browser: WebDriver, served: Served) -> None:
    open_page(browser, served, "#/entries")
    wait(browser, "#entry-list li")
    browser.find_element(By.TAG_NAME, "body").send_keys("/")  # '/' jumps to the question box
    WebDriverWait(browser, 10).until(
        lambda d: d.switch_to.active_element.get_attribute("id") == "ask-input")
    box = browser.switch_to.active_element
    box.send_keys("first line")
    box.send_keys(Keys.SHIFT, Keys.ENTER)  # Shift+Enter: a new line, not a question
    box.send_keys("second line")
    assert box.get_attribute("value") == "first line\nsecond line"
    assert not browser.find_elements(By.CSS_SELECTOR, "#chat .msg")
    box.clear()
    browser.set_window_size(390, 844)
    try:
        box.send_keys("AH02565: Certificate and private key do not match", Keys.ENTER)
        wait(browser, "#chat .msg.bot .hit")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0  # nothing wider than the phone's screen
        browser.save_screenshot(str(Path(tempfile.gettempdir()) / "kb-web-phone.png"))
    finally:
        browser.set_window_size(1100, 1400)


def test_a_token_is_asked_for_and_used(browser: WebDriver) -> None:
    with kb_serve("--token", "browser-token") as guarded:
        open_page(browser, guarded)
        browser.find_element(By.ID, "ask-input").send_keys("no shared cipher", Keys.ENTER)
        dialog = wait(browser, "#token-dialog")[0]
        dialog.find_element(By.ID, "token-input").send_keys("browser-token", Keys.ENTER)
        card = wait(browser, "#chat .msg.bot .hit")[0]
        assert "no shared cipher" in card.find_element(By.CSS_SELECTOR, "h3 a").text
        browser.execute_script("sessionStorage.clear()")


def test_the_page_files_ship_in_the_wheel() -> None:
    """Every file the page needs is package data (pyproject.toml), so `pip install` has it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["frontends"]
    web = ROOT / "frontends" / "web"
    for path in web.iterdir():
        assert any(fnmatch(f"web/{path.name}", p) for p in patterns), path.name
    html = (web / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="static/app.js" defer>']  # no inline script: CSP allows none
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers either
    for name in ("index.html", "app.js", "style.css"):  # no CDN: nothing from elsewhere
        text = (web / name).read_text(encoding="utf-8")
        assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?(https?:)?//", text), name
    assert "innerHTML" not in (web / "app.js").read_text(encoding="utf-8").replace(
        "innerHTML = policy.createHTML(", "")  # the one HTML sink goes through the policy
