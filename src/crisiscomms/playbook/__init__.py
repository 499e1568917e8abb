"""The playbook language: models (steps.py, models.py), reading (yamlfile.py, loader.py),
checking (inspect.py, expression.py) and ordering (plan.py). Imports nothing from Prefect."""
