"""Fast proxy for NLU data quality: 5-fold cross-validation of TF-IDF (words + char n-grams) + linear SVM.

Not the product's classifier (that is DIET, see scripts/eval_nlu.py) but a quick way, in seconds, to see
which intents overlap in the training data and which examples are not identifiable from their words.
Usage: .venv/bin/python scripts/nlu_proxy_cv.py [--intents a,b,c] [--show 30]
"""
from __future__ import annotations

import argparse
import warnings
from collections import Counter

warnings.filterwarnings("ignore")

from rasa.shared.nlu.training_data.loading import load_data  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import classification_report, f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402
from sklearn.pipeline import make_pipeline, make_union  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intents", default="", help="only show errors of these intents (comma separated)")
    parser.add_argument("--show", type=int, default=30)
    args = parser.parse_args()
    data = load_data("data/nlu")
    texts = [m.get("text") for m in data.intent_examples]
    labels = [m.get("intent").split("/")[0] for m in data.intent_examples]
    features = make_union(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=2),
    )
    model = make_pipeline(features, LinearSVC(C=0.5))
    predicted = cross_val_predict(model, texts, labels, cv=StratifiedKFold(5, shuffle=True, random_state=42))
    print(f"{len(texts)} examples, {len(set(labels))} intents, 5-fold macro-F1 {f1_score(labels, predicted, average='macro'):.3f}")
    report = classification_report(labels, predicted, output_dict=True, zero_division=0)
    worst = sorted((v["f1-score"], k) for k, v in report.items() if isinstance(v, dict) and "avg" not in k)
    print("lowest F1:", ", ".join(f"{k} {f:.2f}" for f, k in worst[:12]))
    pairs = Counter((g, p) for g, p in zip(labels, predicted) if g != p)
    print("most confused:", ", ".join(f"{g}->{p} {n}" for (g, p), n in pairs.most_common(12)))
    wanted = set(filter(None, args.intents.split(",")))
    shown = 0
    for text, gold, pred in zip(texts, labels, predicted):
        if gold != pred and (not wanted or gold in wanted) and shown < args.show:
            print(f"  {gold} -> {pred} | {text}")
            shown += 1


if __name__ == "__main__":
    main()
