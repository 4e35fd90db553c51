"""Benchmark of the conversation gateway (`make bench`); writes reports/bench.md.

Measured in one run on this machine:
  1. the baseline: plain `Agent.handle_text` in-process (SQLite tracker store, the real action server),
     as Rasa ships it and with bot.rasa_tuning applied (what the gateway runs);
  2. the whole gateway path: `python -m bot` as its own process, Telegram in polling mode against the
     fake Bot API server (tests/support/fake_bot_api.py) in this process. Latency is from injecting the
     update into the fake API until the last reply to it arrived there; with 1 and with 20 simulated
     users (each waits for its answer before sending the next message);
  3. cold start (process start until Telegram polling begins, after the model is loaded and warm) and
     peak RSS (VmHWM) of the bot process and of its action server.

Usage: python scripts/bench_gateway.py [--rounds-1 5] [--rounds-20 2] [--users 20] [--out reports/bench.md]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

from tests.support.fake_bot_api import FakeBotApi  # noqa: E402

SCRIPT = [
    "hallo",
    "ik wil een tip over slapen",
    '/inform_age{"age_group":"4-12"}',
    "nog een tip",
    "ik ben zo moe van alles",
    "dank je",
    "hij staat nu met een mes voor mijn neus",
    "doei",
]
TARGETS = {"p95_ratio": 1.15, "throughput": 30.0, "cold_start": 30.0, "rss_gb": 1.5}


# ----------------------------------------------------------------------------------------- helpers


@dataclass
class Stats:
    name: str
    latencies: List[float]
    seconds: float
    mismatches: int = 0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> Dict[str, str]:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def peak_rss_gb(pid: int) -> float:
    """VmHWM: the process's peak resident set size."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def role(pid: int) -> str:
    """'actions' (the action server), 'model' (the model process), 'helper' (multiprocessing's tracker)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if "rasa_sdk" in cmdline:
        return "actions"
    if "resource_tracker" in cmdline:
        return "helper"
    return "model" if "multiprocessing" in cmdline else "other"


def children(pid: int) -> List[int]:
    """Child processes of `pid`, started from any of its threads."""
    found: List[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


# ----------------------------------------------------------------------------------------- baseline


async def run_assistant(assistant: Any, users: int, rounds: int, tag: str) -> Tuple[Stats, Dict[int, int]]:
    """Each user plays SCRIPT `rounds` times (a fresh conversation per round), one message at a time."""
    latencies: List[float] = []
    counts: Dict[int, int] = {}

    async def user(u: int) -> None:
        for r in range(rounds):
            sender = f"bench-{tag}-{u}-{r}-{os.getpid()}"
            for index, text in enumerate(SCRIPT):
                start = time.perf_counter()
                replies = await assistant.handle(sender, text)
                latencies.append(time.perf_counter() - start)
                counts[index] = len([x for x in replies if x.text or x.buttons])

    started = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(users)))
    return Stats(tag, latencies, time.perf_counter() - started), counts


async def baseline(action_url: str, database_url: str, rounds_1: int, rounds_20: int, users: int) -> Dict[str, Any]:
    from bot.assistant import InProcessAssistant
    from bot.model import quiet
    from bot.rasa_tuning import tune

    with quiet():
        assistant = InProcessAssistant(ROOT / "models" / "adempauze.tar.gz", database_url, action_url)
    await run_assistant(assistant, 1, 1, "warmup")
    plain_1, _ = await run_assistant(assistant, 1, rounds_1, "plain-1")
    plain_20, _ = await run_assistant(assistant, users, rounds_20, "plain-20")
    tune()
    tuned_1, counts = await run_assistant(assistant, 1, rounds_1, "tuned-1")
    tuned_20, _ = await run_assistant(assistant, users, rounds_20, "tuned-20")
    return {"plain_1": plain_1, "plain_20": plain_20, "tuned_1": tuned_1, "tuned_20": tuned_20, "counts": counts}


# ----------------------------------------------------------------------------------------- gateway


class TimedBotApi(FakeBotApi):
    """The fake Bot API, noting when each message for a chat arrived (and waking the driver)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: Dict[Any, List[float]] = defaultdict(list)
        self.waiters: Dict[Any, Tuple[int, asyncio.Future, asyncio.AbstractEventLoop]] = {}

    def _record_sent(self, method: str, message: Dict[str, Any], *args: Any) -> None:
        super()._record_sent(method, message, *args)  # type: ignore[misc]
        if method != "sendMessage":
            return
        chat = message["chat"]["id"]
        self.arrivals[chat].append(time.perf_counter())
        waiter = self.waiters.get(chat)
        if waiter and len(self.arrivals[chat]) >= waiter[0] and not waiter[1].done():
            waiter[2].call_soon_threadsafe(lambda f=waiter[1]: f.done() or f.set_result(None))

    async def wait_count(self, chat: int, count: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            if len(self.arrivals[chat]) >= count:
                return True
            self.waiters[chat] = (count, future, loop)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self.waiters.pop(chat, None)


async def drive(api: TimedBotApi, users: int, rounds: int, expected: Dict[int, int], base: int, tag: str) -> Stats:
    latencies: List[float] = []
    mismatches = 0

    async def user(u: int) -> None:
        nonlocal mismatches
        for r in range(rounds):
            chat = base + u * 1000 + r
            for index, text in enumerate(SCRIPT):
                target = len(api.arrivals[chat]) + max(1, expected.get(index, 1))
                start = time.perf_counter()
                api.user_sends_text(chat, text)
                if not await api.wait_count(chat, target, timeout=30):
                    mismatches += 1
                    continue
                latencies.append(api.arrivals[chat][target - 1] - start)

    started = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(users)))
    return Stats(tag, latencies, time.perf_counter() - started, mismatches)


def start_bot(api: TimedBotApi, workdir: Path, env_extra: Dict[str, str]) -> Tuple[subprocess.Popen, float, Path]:
    env = {
        **os.environ,
        "TELEGRAM_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "FLOOD_LIMIT": "100000",  # the simulated users type faster than people; the guard still runs
        "PYTHONUNBUFFERED": "1",
        **env_extra,
    }
    log = workdir / "bot.log"
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not api.calls("getUpdates"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the bot did not start; see {log}:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)
    return process, time.perf_counter() - started, log


def stop_bot(process: subprocess.Popen) -> float:
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
    return time.perf_counter() - started


def gateway(rounds_1: int, rounds_20: int, users: int, expected: Dict[int, int], env_extra: Dict[str, str], tag: str = "gateway") -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="adempauze-bench-") as tmp, TimedBotApi() as api:
        process, cold, log = start_bot(api, Path(tmp), env_extra)
        started_children = children(process.pid)

        async def scenario() -> Tuple[Stats, Stats]:
            await drive(api, 1, 1, expected, 9_000_000, "warmup")
            one = await drive(api, 1, rounds_1, expected, 1_000_000, f"{tag}-1")
            many = await drive(api, users, rounds_20, expected, 2_000_000, f"{tag}-{users}")
            return one, many

        one, many = asyncio.run(scenario())
        kids = {pid: role(pid) for pid in set(started_children + children(process.pid))}
        gateway_rss = peak_rss_gb(process.pid)
        model_rss = sum(peak_rss_gb(pid) for pid, r in kids.items() if r in ("model", "helper"))
        rss_actions = max([peak_rss_gb(pid) for pid, r in kids.items() if r == "actions"] or [float("nan")])
        stopped = stop_bot(process)
        text = log.read_text(errors="replace")
        ready = re.search(r"ready in ([0-9.]+) s", text)
        loaded = re.search(r"model loaded in ([0-9.]+) s", text)
        warm = re.search(r"warm-up took ([0-9.]+) s", text)
        return {
            "one": one,
            "many": many,
            "cold_start": cold,
            "ready_reported": float(ready.group(1)) if ready else float("nan"),
            "model_load": float(loaded.group(1)) if loaded else float("nan"),
            "warm_up": float(warm.group(1)) if warm else float("nan"),
            "rss": gateway_rss + model_rss + (0.0 if rss_actions != rss_actions else rss_actions),  # sum of peaks: an upper bound
            "rss_gateway": gateway_rss,
            "rss_model": model_rss,
            "rss_actions": rss_actions,
            "shutdown": stopped,
            "typing": len(api.calls("sendChatAction")),
            "sends": len(api.calls("sendMessage")),
        }


# ----------------------------------------------------------------------------------------- report


def row(stats: Stats) -> str:
    extra = f" ({stats.mismatches} without the expected answer)" if stats.mismatches else ""
    return f"| {stats.name} | {len(stats.latencies)}{extra} | {stats.p50 * 1000:.0f} | {stats.p95 * 1000:.0f} | {stats.rate:.1f} |"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def seconds(value: float) -> str:
    return "?" if value != value else f"{value:.1f} s"


def report(info: Dict[str, str], base: Dict[str, Any], gw: Dict[str, Any], limited: Dict[str, Any], users: int, env_extra: Dict[str, str]) -> str:
    plain_1, tuned_1, gw_1, gw_n = base["plain_1"], base["tuned_1"], gw["one"], gw["many"]
    ratio_plain = gw_1.p95 / plain_1.p95
    ratio_tuned = gw_1.p95 / tuned_1.p95
    ratio_many = gw_n.p95 / base["tuned_20"].p95
    lines = [
        "# Gateway benchmark",
        "",
        f"Written by `make bench` (scripts/bench_gateway.py) on {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, Python {info['python']}; "
        f"load average at the start {info['load']} (the machine is shared: other work may have run at the same time).",
        "",
        f"Each simulated user plays an 8-message conversation ({', '.join(repr(s) for s in SCRIPT)}), one message",
        "at a time, waiting for the whole answer before the next; a new conversation (new user) per round.",
        "Gateway latency: from injecting the Telegram update into the fake Bot API server until the last reply",
        "to it arrived there (python-telegram-bot polling, the rate limiter, HTML, keyboards, SQLite; the model",
        "runs in its own process unless ASSISTANT_PROCESS=0).",
        f"Extra settings of the bot process: {', '.join(f'{k}={v}' for k, v in env_extra.items()) or 'none'}; "
        "FLOOD_LIMIT=100000 because simulated users type faster than people (the guard still runs).",
        "",
        "| path | messages | p50 ms | p95 ms | msg/s |",
        "|---|---|---|---|---|",
        row(plain_1),
        row(base["plain_20"]),
        row(tuned_1),
        row(base["tuned_20"]),
        row(gw_1),
        row(gw_n),
        row(limited["one"]),
        row(limited["many"]),
        "",
        "`plain`: `Agent.handle_text` as Rasa 3.6 ships it; `tuned`: with bot.rasa_tuning (what the gateway runs);",
        "`gateway-N`: the whole path with N simulated users, outgoing rate limit raised (TELEGRAM_MAX_RATE=1000) so",
        "the gateway's own capacity shows; `limited-N`: the same with the production default TELEGRAM_MAX_RATE=30",
        "(Telegram's limit of about 30 messages per second for a bot). An answer is 1.4 Bot API messages on average",
        f"({limited['sends']} messages for {len(limited['one'].latencies) + len(limited['many'].latencies) + len(SCRIPT)} updates), so on Telegram itself the",
        "replies, not the gateway, cap a busy bot near 30 / 1.4 ≈ 21 updates per second; above that the rate limiter",
        "queues replies (and retries after a 429) instead of losing them.",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| gateway p95 <= {TARGETS['p95_ratio']} x baseline p95 (1 user) | {ratio_plain:.2f} x plain, {ratio_tuned:.2f} x tuned | "
        f"{verdict(ratio_plain <= TARGETS['p95_ratio'])} against plain, {verdict(ratio_tuned <= TARGETS['p95_ratio'])} against tuned |",
        f"| >= {TARGETS['throughput']:.0f} msg/s with {users} users | {gw_n.rate:.1f} msg/s | {verdict(gw_n.rate >= TARGETS['throughput'])} |",
        f"| cold start <= {TARGETS['cold_start']:.0f} s | {gw['cold_start']:.1f} s (second start {limited['cold_start']:.1f} s; model load {seconds(gw['model_load'])}, warm-up {seconds(gw['warm_up'])}) | "
        f"{verdict(gw['cold_start'] <= TARGETS['cold_start'])} |",
        f"| peak RSS <= {TARGETS['rss_gb']} GB | {gw['rss']:.2f} GB = gateway process {gw['rss_gateway']:.2f} + model process {gw['rss_model']:.2f} + action server {gw['rss_actions']:.2f} GB (the sum of each one's peak; second run {limited['rss']:.2f} GB) | "
        f"{verdict(gw['rss'] <= TARGETS['rss_gb'])} |",
        "",
        f"With {users} users the gateway's p95 is {ratio_many:.2f} x the tuned baseline's p95 with {users} concurrent users on one event loop.",
        f"Typing actions sent: {gw['typing']} (only when an answer takes longer than 0.3 s); messages sent: {gw['sends']}; "
        f"graceful shutdown took {gw['shutdown']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds-1", type=int, default=5, help="conversations for the 1-user runs")
    parser.add_argument("--rounds-20", type=int, default=2, help="conversations per user for the N-user runs")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench.md")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the bot process (e.g. ASSISTANT_THREADS=1)")
    args = parser.parse_args()
    env_extra = dict(item.split("=", 1) for item in args.env)
    info = machine()
    print(f"machine: {info}", flush=True)

    from bot.action_server import ActionServer

    with tempfile.TemporaryDirectory(prefix="adempauze-bench-base-") as tmp, ActionServer() as actions:
        base = asyncio.run(baseline(actions.url, f"sqlite:///{Path(tmp) / 'base.db'}", args.rounds_1, args.rounds_20, args.users))
    for key in ("plain_1", "plain_20", "tuned_1", "tuned_20"):
        print(row(base[key]), flush=True)
    gw = gateway(args.rounds_1, args.rounds_20, args.users, base["counts"], {"TELEGRAM_MAX_RATE": "1000", **env_extra})
    print(row(gw["one"]), flush=True)
    print(row(gw["many"]), flush=True)
    limited = gateway(args.rounds_1, args.rounds_20, args.users, base["counts"], {"TELEGRAM_MAX_RATE": "30", **env_extra}, "limited")
    print(row(limited["many"]), flush=True)
    text = report(info, base, gw, limited, args.users, env_extra)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
