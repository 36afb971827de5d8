"""Hierarchical codes of the national digital city-management standard.

6-digit district + 3-digit sub-district + 3-digit community + 3-digit grid serial: a grid code
has 15 digits and its parents are its prefixes.
"""

from __future__ import annotations

import re

from gis.core.errors import InvalidInput

CODE_DIGITS = {"districts": 6, "subdistricts": 9, "communities": 12, "grids": 15}
PARENT_LAYER = {"subdistricts": "districts", "communities": "subdistricts", "grids": "communities"}
_PATTERNS = {layer: re.compile(rf"^\d{{{n}}}$") for layer, n in CODE_DIGITS.items()}


def code_problem(layer: str, code: object) -> str | None:
    """Why ``code`` is not a valid code of ``layer``, or ``None`` when it is."""
    if code is None or (isinstance(code, float) and code != code):
        return "missing code"
    if not isinstance(code, str):
        return f"code {code!r} is not text"
    digits = CODE_DIGITS.get(layer)
    if digits is None:
        return None if code.strip() else "empty code"
    if not _PATTERNS[layer].match(code):
        return f"code {code!r} must be exactly {digits} digits"
    # 00 ends a prefecture code, not a district; serial 000 names no unit.
    if layer == "districts" and code.endswith("00"):
        return f"code {code!r}: a district code does not end in 00"
    if layer != "districts" and code.endswith("000"):
        return f"code {code!r}: serial 000 is not a unit"
    return None


def validate_code(layer: str, code: object) -> str:
    """Return ``code`` when valid for ``layer``; raise ``InvalidInput`` naming the problem."""
    problem = code_problem(layer, code)
    if problem:
        raise InvalidInput(problem)
    assert isinstance(code, str)
    return code


def parent_code(layer: str, code: str) -> str | None:
    """Code of the parent unit (the prefix), or ``None`` for a district."""
    parent = PARENT_LAYER.get(layer)
    return code[: CODE_DIGITS[parent]] if parent else None
