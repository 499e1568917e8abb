"""Issue 5, must-hold 1: message templates run sandboxed and bounded. A template that reaches for Python
internals, or repeats its way to a huge text, is a problem of the pack (refused before anyone is asked to approve
it), never a crash, a hang or a leak; data that looks like Jinja stays data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crisiscomms.communication.messages import PackContext, render_pack
from crisiscomms.playbook.rendering import MAX_OUTPUT_CHARS, render_text

from .test_messages import NOW, demo, with_messages

HOSTILE = {
    "attribute escape": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals of a method": "{{ facts.known.append.__self__.__class__ }}{{ cycler.__init__.__globals__ }}",
    "text repeated": "{{ 'x' * 50000000 }}",
    "list repeated": "{{ facts.known * 100000000 }}",
    "power": "{{ 10 ** 100000 }}",
    "loop repeating text": "{% for i in range(100000) %}{{ facts.summary }}{{ 'y' * 50 }}{% endfor %}",
    "range too big": "{{ range(10 ** 9) | list | length }}",
    "macro calling itself": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "mutating the facts": "{{ facts.known.append('injecté') }}",
    "replace filter multiplying": "{{ ('x' * 1000) | replace('x', 'y' * 20000) }}",
    "replace method multiplying": "{{ ('x' * 1000).replace('x', 'y' * 20000) }}",
    "padding to a huge width": "{{ 'a'.center(10 ** 9) }}{{ '%900000000s' | format('a') }}",
    "format method padding": "{{ '{:>900000000}'.format('a') }}",
    "indent of many lines": "{{ ('a\\n' * 90000) | indent(20000) }}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_makes_the_pack_refused_quickly(source: str, tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "update.fr.md.j2").write_text(f"# Point\n\n{source}\n", encoding="utf-8")
    playbook = with_messages(demo(), [{"kind": "update", "audiences": ["clients"], "channels": ["site_web"]}])
    known = list(playbook.communication.facts.known)
    started = time.monotonic()
    pack = render_pack(playbook, tmp_path, PackContext(inputs={}, now=NOW))
    assert time.monotonic() - started < 10  # bounded: it is stopped, not rendered whole then measured
    assert len(pack.problems) == 1 and pack.problems[0].startswith("update/clients/site_web/fr: messages/update")
    assert pack.variants[0].text == ""  # nothing half-rendered is kept to be approved
    assert list(playbook.communication.facts.known) == known


def test_a_long_but_legitimate_text_renders_up_to_the_bound() -> None:
    assert len(render_text("{{ 'a' * n }}", {"n": MAX_OUTPUT_CHARS // 2})) == MAX_OUTPUT_CHARS // 2
    with pytest.raises(Exception, match=f"exceeds {MAX_OUTPUT_CHARS} characters"):
        render_text("{% for i in range(3) %}{{ 'a' * n }}{% endfor %}", {"n": MAX_OUTPUT_CHARS // 2})


def test_values_that_look_like_templates_are_printed_not_run() -> None:
    comment = "{{ ''.__class__ }} {% for i in range(10**9) %}x{% endfor %}"
    assert render_text("Commentaire : {{ c }}", {"c": comment}) == f"Commentaire : {comment}"


def test_guarded_filters_and_methods_still_do_their_work() -> None:
    assert render_text("{{ 'a-b-c' | replace('-', ' / ') }} {{ 'x' | center(5) }}|{{ '%3s' | format('a') }}", {}) \
        == "a / b / c   x  |  a"
    assert render_text("{{ 'a b'.replace(' ', '_') }} {{ '{:>3}'.format('z') }} {{ 'l1\\nl2' | indent(2) }}", {}) \
        == "a_b   z l1\n  l2"



@pytest.mark.parametrize(("source", "named"), [
    ("{{ ('x' * 1000) | replace('x', 'y' * 200000) }}", "replace filter"),
    ("{{ ('x' * 1000).replace('x', 'y' * 200000) }}", "str.replace"),
    ("{{ 'a'.center(10 ** 9) }}", "str.center"),
    ("{{ '%900000000s' | format('a') }}", "format filter"),
    ("{{ '{:>900000000}'.format('a') }}", "str.format"),
])
def test_text_multiplied_by_a_filter_or_a_method_is_refused_before_it_is_built(source: str, named: str) -> None:
    with pytest.raises(Exception, match=named):  # sized first: nothing of 200 M characters is ever allocated
        render_text(source, {})
