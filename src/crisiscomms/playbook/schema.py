"""The JSON Schema of playbooks, generated from the models (editors use it for completion)."""

from __future__ import annotations

import json
from typing import Any

from crisiscomms.playbook.models import Playbook

SCHEMA_FILE = "playbook.schema.json"


def playbook_json_schema() -> dict[str, Any]:
    schema = Playbook.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "crisiscomms playbook", **{k: v for k, v in schema.items() if k != "title"}}


def schema_text() -> str:
    return json.dumps(playbook_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
