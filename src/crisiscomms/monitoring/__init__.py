"""Monitoring: sources, the data-quality gate, language, sentiment, watchlist, entities, audiences, detection
and the mention store."""
