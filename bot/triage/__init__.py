"""Danger triage: risk tiers, the signal lexicon and the Rasa NLU component."""
