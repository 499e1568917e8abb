"""The review questions' actions, as the team types them: read line by line, never lost."""

from __future__ import annotations

from datetime import date

from flows.lessons import read_actions


def test_actions_are_read_one_per_line_with_any_of_the_three_separators() -> None:
    actions, problems = read_actions("Raccourcir la validation ; Sophie Lefèvre ; 2027-01-15\n\n"
                                     "Tenir la FAQ prête | Claire Martin | 2027-02-01\nFormer l'astreinte\tKarim\t2027-03-01")
    assert problems == []
    assert [(a.what, a.owner, a.due) for a in actions] == [
        ("Raccourcir la validation", "Sophie Lefèvre", date(2027, 1, 15)),
        ("Tenir la FAQ prête", "Claire Martin", date(2027, 2, 1)), ("Former l'astreinte", "Karim", date(2027, 3, 1))]


def test_a_line_that_cannot_be_read_is_named_with_its_field_and_the_others_are_kept() -> None:
    actions, problems = read_actions("ok ; Claire ; 2027-01-15\nno owner ;  ; 2027-01-15\nbad date ; Karim ; demain\n"
                                     "two parts ; Karim\n" + "x" * 600 + " ; Karim ; 2027-01-15")
    assert [a.what for a in actions] == ["ok"]
    assert problems[0].startswith("line 2 « no owner ;  ; 2027-01-15 »: owner:")
    assert problems[1] == "line 3 « bad date ; Karim ; demain »: due date: Invalid isoformat string: 'demain'"
    assert problems[2] == "line 4 « two parts ; Karim »: write what ; owner ; due date"
    assert problems[3].startswith("line 5 « xxx") and "what: String should have at most 500 characters" in problems[3]
