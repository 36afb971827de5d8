"""Hierarchical codes of the national digital city-management standard.

6-digit district + 3-digit sub-district + 3-digit community + 3-digit grid serial: a grid code
has 15 digits and its parents are its prefixes (the digits per level are
``gis.core.vocabulary.CODE_DIGITS``).
"""

from __future__ import annotations

import re

from gis.core.vocabulary import CODE_DIGITS, TABLE_LEVEL, Level

_PATTERNS = {level: re.compile(rf"^\d{{{n}}}$") for level, n in CODE_DIGITS.items()}


def code_problem(layer: str, code: object) -> str | None:
    """Why ``code`` is not a valid code of ``layer``, or ``None`` when it is."""
    if code is None or (isinstance(code, float) and code != code):
        return "missing code"
    if not isinstance(code, str):
        return f"code {code!r} is not text"
    level = TABLE_LEVEL.get(layer)
    if level is None:
        return None if code.strip() else "empty code"
    if not _PATTERNS[level].match(code):
        return f"code {code!r} must be exactly {CODE_DIGITS[level]} digits"
    # 00 ends a prefecture code, not a district; serial 000 names no unit.
    if level is Level.DISTRICT and code.endswith("00"):
        return f"code {code!r}: a district code does not end in 00"
    if level is not Level.DISTRICT and code.endswith("000"):
        return f"code {code!r}: serial 000 is not a unit"
    return None
