"""What a parameter's annotation says it is: the one reading shared by the parameter checks
(``api.hardening``) and the lean handler (``api.lean``)."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

Kind = Literal["sequence", "int", "float", "datetime", "str", "scalar"]
_SEQUENCES = (list, tuple, set, frozenset, Sequence)


def parameter_kind(annotation: Any) -> Kind:
    """How a parameter's annotation is parsed (Optional and Annotated unwrapped): ``str``
    exactly, ``int``, ``float``, a date or date-time, a sequence, or another ``scalar``
    (``bool``, an enum, a union of kinds)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return parameter_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {parameter_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "scalar"
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        return "sequence"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is str:
        return "str"
    if annotation in (datetime, date):
        return "datetime"
    return "scalar"
