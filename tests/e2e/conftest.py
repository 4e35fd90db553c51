"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright, against a real server
process (the gateway with the Rasa model in-process, the staff console and the web chat).

Chromium comes from `scripts/install_browser.sh` (part of `make setup`); when it is missing these tests
FAIL with that instruction, they do not skip. Never `playwright install`.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
START_TIMEOUT = float(os.environ.get("E2E_START_TIMEOUT", "300"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `scripts/install_browser.sh` (apt-get install chromium). "
                    "The browser tests need Debian's chromium; never `playwright install`.")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> Any:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


def server_module() -> str:
    """`python -m bot` (the real entry point); ADEMPAUZE_E2E_SERVER=stack uses tests/support/handoff_server.py,
    which wires the same parts (also used while bot/__main__.py did not exist yet)."""
    choice = os.environ.get("ADEMPAUZE_E2E_SERVER", "bot")
    if choice == "bot" and (ROOT / "bot" / "__main__.py").exists():
        return "bot"
    return "tests.support.handoff_server"


class Server:
    """`python -m bot` (see server_module) on a free port, with its own SQLite database."""

    def __init__(self, tmp: Path, env: Dict[str, str]) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.log = tmp / "server.log"
        self.env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "TELEGRAM_TOKEN": "", "ADEMPAUZE_SECRET": "",
                    "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING", **env}
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "bot.staff", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    def start(self) -> "Server":
        module = server_module()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server stopped at start-up:\n{self.log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # 200 once the bot is ready
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"server did not start in {START_TIMEOUT:.0f} s:\n{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the server and its action server child
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path / 'adempauze.db'}", "HANDOFF_TIMEOUT_SECONDS": "600"})
    yield server
    server.stop()


def demo_credentials(output: str) -> Dict[str, str]:
    """helpline id -> (e-mail, password) lines printed by `python -m bot.staff demo-seed`."""
    accounts: Dict[str, Any] = {}
    for line in output.splitlines():
        match = re.match(r"\s+(\S+@\S+)\s+(\S+)\s+(.+)$", line)
        if match:
            email, password, what = match.groups()
            accounts["admin" if what.startswith("admin") else what.strip()] = (email, password)
    return accounts


def screenshot_dir() -> Optional[Path]:
    """Set SCREENSHOT_DIR (e.g. docs/screenshots) to keep the README screenshots of a run."""
    value = os.environ.get("SCREENSHOT_DIR")
    if not value:
        return None
    path = Path(value) if Path(value).is_absolute() else ROOT / value
    path.mkdir(parents=True, exist_ok=True)
    return path
