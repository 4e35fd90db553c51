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
