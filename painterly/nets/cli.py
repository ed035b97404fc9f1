"""The ``apply`` and ``train`` subcommands (registered by :mod:`painterly.cli`)."""

from __future__ import annotations


def add_parser(sub) -> None:
    from . import apply

    apply.add_parser(sub)
