"""Monitoring: sources, the data-quality gate, language, sentiment, watchlist, entities, audiences, detection,
the mention store, the one monitoring pass (monitor.py) and the claims it watches for (claim, claimwatch,
correction)."""
