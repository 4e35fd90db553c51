"""Warm handoff to helpline staff: models, service, live updates, retention (see issue 5)."""
