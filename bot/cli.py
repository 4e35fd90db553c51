"""Shared plumbing for the line-in, JSON-out command-line tools (bot.nlu, bot.triage)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from bot.model import load_agent, quiet

Record = Callable[[str, Dict[str, Any]], Dict[str, Any]]


def run(record: Record, description: str, argv: Optional[List[str]] = None) -> None:
    """Read stdin line by line, parse each line with the trained model, print one JSON object per line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, default=None, help="model archive (default: models/adempauze.tar.gz)")
    args = parser.parse_args(argv)
    with quiet():
        agent = load_agent(args.model)
    loop = asyncio.new_event_loop()
    try:
        for line in sys.stdin:
            text = line.rstrip("\r\n")
            parsed = loop.run_until_complete(agent.parse_message(text)) if text.strip() else {}
            print(json.dumps(record(text, parsed), ensure_ascii=False), flush=True)
    finally:
        loop.close()
