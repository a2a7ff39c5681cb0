"""Waves: the batches the executor sends at the same time. Plan order between kinds is kept, and no person's
link is written by two batches at once."""

from __future__ import annotations

from enrolsync.connectors.ops import OpKind
from enrolsync.sync.plan.order import waves

Row = tuple[OpKind, str]
E, C = OpKind.ENROL, OpKind.CREATE_USER


def _waves(cut: list[list[Row]], width: int = 4) -> list[list[list[Row]]]:
    return waves(cut, width=width, kind=lambda row: row[0], person=lambda row: row[1])


def test_batches_of_one_kind_for_different_people_go_out_together_up_to_the_width() -> None:
    cut = [[(E, "a")], [(E, "b")], [(E, "c")], [(E, "d")], [(E, "e")]]

    assert [len(wave) for wave in _waves(cut, width=2)] == [2, 2, 1]
    assert [batch for wave in _waves(cut, width=2) for batch in wave] == cut, "plan order kept"


def test_a_wave_never_mixes_kinds() -> None:
    cut = [[(C, "a")], [(C, "b")], [(E, "a")], [(E, "b")]]

    assert _waves(cut) == [[[(C, "a")], [(C, "b")]], [[(E, "a")], [(E, "b")]]]


def test_a_person_in_two_batches_splits_the_wave() -> None:
    # A manager's many role grants span batches: each batch records on the manager's link.
    cut = [[(E, "a"), (E, "m")], [(E, "m"), (E, "b")], [(E, "c")]]

    assert _waves(cut) == [[[(E, "a"), (E, "m")]], [[(E, "m"), (E, "b")], [(E, "c")]]]


def test_width_one_is_one_batch_at_a_time() -> None:
    cut = [[(E, "a")], [(E, "b")]]

    assert _waves(cut, width=1) == [[[(E, "a")]], [[(E, "b")]]]
