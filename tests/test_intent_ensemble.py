"""The intent ensemble's fast probabilities equal sklearn's predict_proba."""
from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from bot.intent_ensemble import IntentEnsemble

TEXTS = [
    "hoe krijg ik mijn peuter in slaap", "hij slaapt zo slecht", "wat eet een kind van 4",
    "groente lust ze niet", "ik ben zo moe van alles", "ik kan het niet meer aan",
    "hij slaat me", "mijn vader slaat mij", "ik heb hem geslagen",
]
LABELS = ["tip_sleep", "tip_sleep", "tip_food", "tip_food", "stress", "stress", "violence", "violence", "violence"]


def test_fast_probabilities_equal_predict_proba() -> None:
    model = Pipeline([("features", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))), ("classifier", LogisticRegression(C=100, max_iter=2000))])
    model.fit(TEXTS, LABELS)
    ensemble = IntentEnsemble({"diet_weight": 0.3}, None, None, model)  # storage and resource are only used to train and load
    for text in ["mijn zoon slaapt niet", "papa slaat mama", "ik ben op", "", "😀😀"]:
        assert np.allclose(ensemble._probabilities(text), model.predict_proba([text])[0], atol=1e-12)


def _train(tmp_path, extra_rows) -> IntentEnsemble:
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    extra = tmp_path / "extra.tsv"
    extra.write_text("text\tintent\n" + "".join(f"{t}\t{i}\n" for t, i in extra_rows), encoding="utf-8")
    config = {**IntentEnsemble.get_default_config(), "extra_examples": [str(extra)]}
    (tmp_path / "storage").mkdir()
    ensemble = IntentEnsemble.create(config, LocalModelStorage(tmp_path / "storage"), Resource("ensemble"), None)
    ensemble.train(TrainingData([Message(data={"text": t, "intent": i}) for t, i in zip(TEXTS, LABELS)]))
    return ensemble


def test_extra_examples_train_the_regression(tmp_path) -> None:
    """A TSV of extra examples moves the regression (and only the regression) towards their intents."""
    text = "opa is dood en mijn zoon slaat steeds met de deur"
    ensemble = _train(tmp_path, [(text, "stress"), ("oma is overleden en ik mis haar", "stress")])
    assert ensemble._model.classes_[int(np.argmax(ensemble._probabilities(text)))] == "stress"


def test_extra_examples_must_name_known_intents(tmp_path) -> None:
    import pytest

    with pytest.raises(ValueError, match="tip_unknown"):
        _train(tmp_path, [("hoe werkt dit", "tip_unknown")])


def test_the_lookalike_file_matches_the_nlu_data() -> None:
    """data/lookalikes/*.tsv: every row has a text and an intent of data/nlu/, no tabs, no duplicate texts; config.yml lists the files."""
    import yaml
    from rasa.shared.nlu.training_data.loading import load_data

    from bot import PROJECT_ROOT
    from bot.intent_ensemble import extra_example_paths, read_extra_examples

    pipeline = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    (ensemble,) = [c for c in pipeline if c["name"].endswith("IntentEnsemble")]
    paths = extra_example_paths(ensemble)
    assert paths and all(p.exists() for p in paths)
    assert sorted(paths) == sorted((PROJECT_ROOT / "data" / "lookalikes").glob("*.tsv"))
    intents = set(load_data(str(PROJECT_ROOT / "data" / "nlu")).intents)
    rows = read_extra_examples(paths)
    assert len(rows) > 500
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "text\tintent" and all(line.count("\t") == 1 for line in lines)
    assert {intent for _, intent in rows} <= intents
    texts = [text for text, _ in rows]
    assert len(texts) == len(set(texts))
