"""Small, measured fixes of per-message overhead in Rasa 3.6 (see reports/bench.md).

Rasa validates every action server response with `jsonschema.validate(result, schema)`, which first
checks the *schema itself* against the JSON Schema meta-schema: about a third of the CPU time of a
message with one custom action. `tune()` validates against the same schema with a validator built
once. Behaviour is unchanged: an invalid response still raises jsonschema's ValidationError.
"""
from __future__ import annotations

from typing import Any, Dict

_tuned = False


def tune() -> None:
    """Apply the fixes once (idempotent)."""
    global _tuned
    if _tuned:
        return
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator = validator_for(schema)(schema)

    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response from the "
                f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise error

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]
    _tuned = True
