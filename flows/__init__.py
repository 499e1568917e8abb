"""Prefect flows: the playbook run (playbook.py) and one flow per phase (phases.py)."""
