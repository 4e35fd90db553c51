"""Forgetting a person: one call deletes everything stored about a pseudonymous id, wherever it is kept.

Every store that keeps data about a person registers a deleter: the gateway registers the Rasa tracker
store; the handoff (issue 5) registers its tables (`forgetter.register("handoffs", person_side.forget)`).
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, List

log = logging.getLogger(__name__)

Deleter = Callable[[str], Awaitable[Any]]


class ForgetError(RuntimeError):
    """Some deleters failed; the others did run. `failed` names them."""

    def __init__(self, failed: List[str]) -> None:
        super().__init__(f"could not forget in: {', '.join(failed)}")
        self.failed = failed


class Forgetter:
    """A registry of deleters, run in registration order by `forget(person_id)`."""

    def __init__(self) -> None:
        self._deleters: Dict[str, Deleter] = {}

    def register(self, name: str, deleter: Deleter) -> None:
        """Add (or replace) the deleter called `name`."""
        self._deleters[name] = deleter

    @property
    def names(self) -> List[str]:
        return list(self._deleters)

    async def forget(self, person_id: str) -> Dict[str, Any]:
        """Run every deleter (even after one fails); raise ForgetError naming the ones that failed."""
        results: Dict[str, Any] = {}
        failed: List[str] = []
        for name, deleter in self._deleters.items():
            try:
                results[name] = await deleter(person_id)
            except Exception as error:  # noqa: BLE001 - the other stores must still be emptied
                log.error("forget: deleter %s failed (%s)", name, type(error).__name__)
                failed.append(name)
        if failed:
            raise ForgetError(failed)
        return results
