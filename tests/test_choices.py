"""The CLI spells its choices out (so that --help imports no NumPy): they must equal the library's names."""

from __future__ import annotations

import click
import pytest

from cosine_cli.accumulate import REDUCTIONS
from cosine_cli.cli import cli
from cosine_cli.core import COMPAT_EPSILON, LOSSES
from cosine_cli.pipeline import NAN_POLICIES


def choices(command: str, option: str) -> list[str]:
    group = cli
    assert isinstance(group, click.Group)
    found = [p for p in group.commands[command].params if isinstance(p, click.Option) and option in p.opts]
    assert len(found) == 1, f"{command} has no single {option}"
    kind = found[0].type
    assert isinstance(kind, click.Choice), f"{option} is not a choice"
    return [str(choice) for choice in kind.choices]


@pytest.mark.parametrize(
    ("option", "names"),
    [
        ("--loss", LOSSES),
        ("--compat", tuple(COMPAT_EPSILON)),
        ("--reduction", REDUCTIONS),
        ("--nan-policy", NAN_POLICIES),
    ],
)
def test_score_choices_equal_the_library_names(option: str, names: tuple[str, ...]) -> None:
    # the same names in the same order (the order is the one --help shows)
    assert choices("score", option) == list(names)


@pytest.mark.parametrize(
    ("command", "option"), [("score", "--pred-format"), ("score", "--label-format"), ("inspect", "--format")]
)
def test_format_choices_equal_the_reader_registry(command: str, option: str) -> None:
    from cosine_cli.formats import FORMATS

    assert sorted(choices(command, option)) == sorted(FORMATS)


def test_encoding_choices_equal_the_library() -> None:
    from cosine_cli.encodings import ENCODINGS
    from cosine_cli.options import ENCODING_CHOICES

    assert ENCODING_CHOICES == ENCODINGS
