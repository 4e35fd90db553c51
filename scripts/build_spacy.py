"""Build the Dutch spaCy pipeline offline: spacy.blank("nl") + the lookup lemmatizer of spacy-lookups-data."""
from __future__ import annotations

import sys
from pathlib import Path

import spacy

TARGET = Path(sys.argv[1] if len(sys.argv) > 1 else "models/spacy_nl")


def main() -> None:
    nlp = spacy.blank("nl")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()  # loads the lookup tables from spacy-lookups-data; nothing is downloaded
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(TARGET)
    check = spacy.load(TARGET)
    lemma = [t.lemma_ for t in check("hij sloeg")][1]
    assert lemma == "slaan", f"lemmatizer did not load: {lemma!r}"
    print(f"Dutch spaCy pipeline saved to {TARGET} (pipes: {check.pipe_names})")


if __name__ == "__main__":
    main()
