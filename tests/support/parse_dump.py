"""Print the model's parse of each stdin line as JSON (argv[1] == 'tuned': with bot.rasa_tuning first).

Used by tests/test_rasa_tuning.py to compare Rasa's own model loading with the tuned one, each in a
fresh process (the tuning patches Rasa for the whole process)."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

if __name__ == "__main__":
    if sys.argv[1:] == ["tuned"]:
        from bot.rasa_tuning import tune

        tune()
    from bot.model import load_agent, quiet

    with quiet():
        agent = load_agent()
    loop = asyncio.new_event_loop()
    parses = [loop.run_until_complete(agent.parse_message(line.rstrip("\n"))) for line in sys.stdin]
    # VmHWM, not getrusage: ru_maxrss survives exec and would report the parent's (pytest's) peak
    status = Path("/proc/self/status").read_text().splitlines()
    peak_gb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024 / 1024
    print(json.dumps({"parses": parses, "peak_gb": peak_gb}, default=str, sort_keys=True))
