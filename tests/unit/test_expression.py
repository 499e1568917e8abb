"""`when:` conditions: what they mean (evaluate), what validation says about them (check), and what
they may not contain (parse).

The resolver below plays the part of a playbook with a choice input `gravite`
(faible < moyenne < haute < critique), untyped inputs `exercice`, `canal`, `nombre`, an earlier
checklist step `convocation` whose `status` is the one-value scale ("recorded",), and typed result fields
`note.text` (a text), `note.lines` (a list) and `faits.compte` (a number).
"""

from __future__ import annotations

from typing import Any

import pytest

from crisiscomms.errors import ExpressionError
from crisiscomms.playbook.expression import MAX_LENGTH, Scale, check, evaluate, parse

GRAVITE = ("faible", "moyenne", "haute", "critique")
KNOWN = {
    ("inputs", "gravite"): Scale(GRAVITE),
    ("inputs", "exercice"): Scale(),
    ("inputs", "canal"): Scale(),
    ("inputs", "nombre"): Scale(),
    ("convocation", "status"): Scale(("recorded",)),
    ("note", "text"): Scale(kind="text"),
    ("note", "lines"): Scale(kind="list"),
    ("faits", "compte"): Scale(kind="number"),
}


def resolve(ref: tuple[str, ...]) -> Scale | str:
    return KNOWN.get(ref, f"unknown reference '{'.'.join(ref)}'")


def holds(text: str, values: dict[str, Any]) -> bool:
    return evaluate(parse(text), values, resolve)


def problems(text: str) -> list[str]:
    return check(parse(text), resolve)


def crisis(**inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs}


# --- ordinal comparisons follow the declared order of a choice ---------------------------------------

@pytest.mark.parametrize(("condition", "true_for"), [
    ("inputs.gravite >= haute", {"haute", "critique"}),
    ("inputs.gravite > moyenne", {"haute", "critique"}),
    ("inputs.gravite < haute", {"faible", "moyenne"}),
    ("inputs.gravite <= faible", {"faible"}),
    ("haute <= inputs.gravite", {"haute", "critique"}),
    ("moyenne <= inputs.gravite < critique", {"moyenne", "haute"}),
    ("inputs.gravite >= 'haute'", {"haute", "critique"}),
])
def test_ordinal_comparison_on_a_choice_follows_the_scale(condition: str, true_for: set[str]) -> None:
    assert {g for g in GRAVITE if holds(condition, crisis(gravite=g))} == true_for


def test_the_scale_order_is_the_declared_one_not_alphabetical() -> None:
    # alphabetically "critique" < "moyenne"; on the scale it is the highest
    assert holds("inputs.gravite >= moyenne", crisis(gravite="critique"))
    assert not holds("inputs.gravite >= critique", crisis(gravite="moyenne"))


def test_equality_with_a_bare_word_or_a_quoted_text_is_the_same() -> None:
    assert holds("inputs.gravite == haute", crisis(gravite="haute"))
    assert holds("inputs.gravite == 'haute'", crisis(gravite="haute"))
    assert not holds("inputs.gravite == haute", crisis(gravite="critique"))
    assert holds("convocation.status == recorded", {"convocation": {"status": "recorded"}})


def test_a_value_off_the_scale_is_neither_above_nor_below() -> None:
    assert not holds("inputs.gravite >= faible", crisis(gravite="extreme"))
    assert not holds("inputs.gravite < critique", crisis(gravite="extreme"))


def test_numbers_are_ordered_as_numbers() -> None:
    assert holds("inputs.nombre > 10", crisis(nombre=12))
    assert not holds("inputs.nombre >= 100", crisis(nombre=12))


# --- missing data reads as null: comparisons on it are false -----------------------------------------

@pytest.mark.parametrize("values", [{}, crisis(), crisis(gravite=None, nombre=None, canal=None)],
                         ids=["no-values", "no-inputs", "null-inputs"])
@pytest.mark.parametrize("condition", [
    "inputs.gravite >= haute",
    "inputs.gravite < haute",
    "inputs.gravite == haute",
    "inputs.nombre > 10",
    "inputs.canal in ['presse', 'social']",
    "inputs.exercice",
    "convocation.status == recorded",  # the step has not run (or was skipped)
])
def test_a_comparison_on_missing_data_is_false(condition: str, values: dict[str, Any]) -> None:
    assert holds(condition, values) is False


def test_missing_data_equals_null() -> None:
    assert holds("inputs.gravite == null", crisis())
    assert not holds("inputs.gravite == null", crisis(gravite="haute"))


# --- values of different kinds: the comparison is false, never an error --------------------------------

@pytest.mark.parametrize("condition", [
    "note.text in 5",
    "note.text not in 5",
    "note.lines >= 1",
    "note.text > 3",
    "inputs.nombre in inputs.canal",
    "inputs.canal in inputs.nombre",
])
def test_comparing_values_of_different_kinds_is_false(condition: str) -> None:
    # Was a TypeError raised by the evaluator, outside any task: the run died after validation accepted it.
    values = {"note": {"text": "x", "lines": ["a"]}, "inputs": {"nombre": 3, "canal": "presse"}}
    assert holds(condition, values) is False


def test_values_of_one_kind_still_compare() -> None:
    values = {"note": {"text": "alerte rouge", "lines": ["a", "b"]}}
    assert holds("'rouge' in note.text", values)
    assert holds("'b' in note.lines", values)
    assert holds("note.lines >= ['a']", values)


@pytest.mark.parametrize(("condition", "problem"), [
    ("note.text in 5", "'note.text in 5' looks for a text in a number: `in` looks in a list, or for a text in a "
                       "text"),
    ("faits.compte in 'abc'", "'faits.compte in 'abc'' looks for a number in a text: `in` looks in a list, or "
                              "for a text in a text"),
    ("note.lines >= 1", "'note.lines >= 1' compares a list with a number: values of different kinds never match "
                        "(the condition would always be false)"),
    ("note.text == 3", "'note.text == 3' compares a text with a number: values of different kinds never match "
                       "(the condition would always be false)"),
    ("faits.compte != 'trois'", "'faits.compte != 'trois'' compares a number with a text: values of different "
                                "kinds never match (the condition would always be true)"),
    ("faits.compte == true", "'faits.compte == true' compares a number with true or false: values of different "
                             "kinds never match (the condition would always be false)"),
])
def test_validation_reports_a_typed_field_compared_with_a_literal_of_another_kind(condition: str,
                                                                                  problem: str) -> None:
    assert problems(condition) == [problem]


@pytest.mark.parametrize("condition", [
    "'rouge' in note.text", "'a' in note.lines", "faits.compte >= 2.5", "faits.compte > -1", "note.text == null",
    "note.text != 'x'", "faits.compte in [1, 2]", "inputs.nombre in 5",  # untyped: judged at run time only
])
def test_comparisons_of_like_kinds_or_of_untyped_values_are_not_reported(condition: str) -> None:
    assert problems(condition) == []


# --- and / or / not, in / not in --------------------------------------------------------------------

@pytest.mark.parametrize(("condition", "expected"), [
    ("inputs.exercice", True),
    ("not inputs.exercice", False),
    ("inputs.exercice == true", True),
    ("inputs.exercice and inputs.gravite >= haute", True),
    ("inputs.exercice and inputs.gravite >= critique", False),
    ("not inputs.exercice or inputs.gravite >= critique", False),
    ("inputs.gravite >= critique or inputs.canal == 'presse'", True),
    ("not (inputs.gravite >= critique or inputs.canal == 'social')", True),
    ("inputs.canal in ['presse', 'social']", True),
    ("inputs.canal not in ['presse', 'social']", False),
    ("inputs.canal in ('intranet',)", False),
])
def test_boolean_operators_and_membership(condition: str, expected: bool) -> None:
    values = crisis(exercice=True, gravite="haute", canal="presse")
    assert holds(condition, values) is expected


@pytest.mark.parametrize(("condition", "gravite", "expected"), [
    ("inputs.gravite in [haute, critique]", "haute", True),
    ("inputs.gravite in [haute, critique]", "moyenne", False),
    ("inputs.gravite not in [haute, critique]", "faible", True),
    ("inputs.gravite in ['haute']", "haute", True),
])
def test_membership_of_a_choice_in_a_list_of_its_values(condition: str, gravite: str, expected: bool) -> None:
    # Fails today with TypeError: unhashable type: 'list' (the evaluator ranks the list itself on the
    # scale) although check() accepts the condition: a validated playbook crashes when it runs.
    assert holds(condition, crisis(gravite=gravite)) is expected


# --- check: what validation says -------------------------------------------------------------------

@pytest.mark.parametrize("condition", [
    "inputs.gravite >= haute and not inputs.exercice",
    "convocation.status == recorded or inputs.canal in ['presse', 'social']",
    "inputs.gravite in [haute, critique]",
    "inputs.nombre > 10",
    "inputs.exercice == true or inputs.canal == null",
    "inputs.nombre >= inputs.nombre",
])
def test_a_sound_condition_has_no_problem(condition: str) -> None:
    assert problems(condition) == []


@pytest.mark.parametrize(("condition", "word"), [
    ("urgent", "urgent"),
    ("inputs.exercice and urgent", "urgent"),
    ("inputs.canal == presse", "presse"),
    ("inputs.canal in [presse, 'social']", "presse"),
])
def test_a_bare_word_that_is_not_on_a_scale_is_an_unknown_name(condition: str, word: str) -> None:
    assert problems(condition) == [
        f"unknown name '{word}' (write inputs.{word}, a step result like step_id.field, "
        "or quote a text value)"
    ]


@pytest.mark.parametrize("condition", [
    "inputs.gravite >= extreme",
    "inputs.gravite == extreme",
    "extreme < inputs.gravite",
    "inputs.gravite in [haute, extreme]",
])
def test_a_word_not_in_the_scale_is_named_with_the_scale(condition: str) -> None:
    assert problems(condition) == ["'extreme' is not one of faible, moyenne, haute, critique"]


def test_ordering_values_that_have_no_order_is_refused() -> None:
    assert problems("inputs.canal > 'presse'") == [
        "'inputs.canal > 'presse'' compares values that have no order (use == or a choice input)"
    ]


def test_an_unknown_reference_is_reported_with_the_resolvers_reason() -> None:
    assert problems("inputs.gravit == 'haute'") == ["unknown reference 'inputs.gravit'"]
    assert problems("inputs.__class__") == ["unknown reference 'inputs.__class__'"]


def test_a_misspelt_choice_input_compared_to_one_of_its_values_is_one_problem() -> None:
    # Fails today: also "unknown name 'haute' (write inputs.haute …)" and "… compares values that have
    # no order" — three problems, two of them misleading, for one typo.
    assert problems("inputs.gravit >= haute") == ["unknown reference 'inputs.gravit'"]


# --- parse: what a condition may not contain ------------------------------------------------------

@pytest.mark.parametrize(("condition", "reason"), [
    ("len(inputs.canal) > 2", "calling functions is not allowed in a condition"),
    ("__import__('os').system('true')", "calling functions is not allowed in a condition"),
    ("inputs.canal[0] == 'p'", "indexing ([…]) is not allowed in a condition"),
    ("lambda: inputs", "lambda is not allowed in a condition"),
    ("1 + 1 == 2", "arithmetic is not allowed in a condition"),
    ("inputs.gravite >= haute if inputs.exercice else false", "if/else is not allowed in a condition"),
    ("[c for c in inputs.canal]", "ListComp is not allowed in a condition"),
    ("{'a': 1}", "a mapping ({…}) is not allowed in a condition"),
    ("f'{inputs}' == 'x'", "an f-string is not allowed in a condition"),
    ("inputs.gravite is None", "Is is not allowed in a condition"),
    ("b'x' == inputs.canal", "literal b'x' is not allowed in a condition"),
    ("x := 1", "cannot parse condition 'x := 1'"),
    ("import os", "cannot parse condition 'import os'"),
    ("inputs.gravite >= = haute", "cannot parse condition 'inputs.gravite >= = haute': invalid syntax"),
])
def test_constructs_outside_the_language_are_refused(condition: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(condition)
    assert reason in str(caught.value)


@pytest.mark.parametrize("condition", [
    "'abc'.upper == 'x'",
    "''.__class__.__mro__ == 'x'",
    "().__class__.__bases__",
    "[].__class__ == inputs.canal",
])
def test_attributes_of_literals_are_refused_when_parsed(condition: str) -> None:
    # Fails today: parse() and check() accept these and only evaluate() raises ("cannot evaluate …"),
    # so a playbook with such a `when:` validates and then fails at run time.
    with pytest.raises(ExpressionError):
        parse(condition)


def test_dunder_names_are_only_looked_up_in_the_data_never_in_python_objects() -> None:
    assert holds("inputs.__class__ == null", crisis(gravite="haute"))
    assert not holds("inputs.__class__", crisis(gravite="haute"))


def test_a_condition_longer_than_the_limit_is_refused() -> None:
    base = "inputs.exercice"
    fits = base + " " * (MAX_LENGTH - len(base))
    assert parse(fits).text == fits
    with pytest.raises(ExpressionError, match=f"condition longer than {MAX_LENGTH} characters"):
        parse(fits + " ")


def test_a_condition_lists_the_dotted_references_it_reads() -> None:
    condition = parse("inputs.gravite >= haute and convocation.status == recorded and not inputs.exercice")
    assert sorted(condition.references()) == [
        ("convocation", "status"), ("inputs", "exercice"), ("inputs", "gravite"),
    ]
