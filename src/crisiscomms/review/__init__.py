"""Post-crisis review: the crisis registry, collection, figures, the report and the evidence pack."""
