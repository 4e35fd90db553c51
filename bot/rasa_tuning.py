"""Small, measured fixes of overhead in Rasa 3.6 (see reports/bench.md). Behaviour is unchanged.

* Rasa validates every action server response with `jsonschema.validate(result, schema)`, which first
  checks the *schema itself* against the JSON Schema meta-schema: about a third of the CPU time of a
  message with one custom action. `tune()` validates against the same schema with a validator built
  once; an invalid response still raises jsonschema's ValidationError.
* To load a DIET/ResponseSelector model for prediction, Rasa trains it for one step on one example
  (to build its weights), which creates Adam's two copies of every weight plus the gradients and traces
  the training graph: seconds of start-up and hundreds of MB that prediction never uses. `tune()` loads
  the weights into the prediction graph instead (TensorFlow restores each weight when the first
  prediction creates it); the predictions are identical (tests/test_rasa_tuning.py compares them).
  Fine-tuning (`rasa train --finetune`) still loads the Rasa way.
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
    _load_for_prediction_only()
    _tuned = True


def _load_for_prediction_only() -> None:
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.models import RasaModel

    rasa_load = RasaModel.load.__func__  # type: ignore[attr-defined]

    def load(cls: Any, model_file_name: str, model_data_example: Any, predict_data_example: Any = None,
             finetune_mode: bool = False, *args: Any, **kwargs: Any) -> Any:
        if finetune_mode or predict_data_example is None:
            return rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs)
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)), run_eagerly=config.get(RUN_EAGERLY))
        status = model.load_weights(model_file_name)  # restored as the prediction graph creates them
        model.run_inference(predict_data_example)
        status.expect_partial()  # the optimizer's state is in the checkpoint but not needed
        return model

    RasaModel.load = classmethod(load)  # type: ignore[assignment]
