"""Map pages name a font stack with CJK faces before the generic fallback, standalone too."""

from __future__ import annotations

import re

from maps import assets
from maps.base import FONT_STACK, base_map


def test_standalone_pages_name_cjk_fonts_before_the_generic_family() -> None:
    fmap = base_map(bounds=(104.0, 30.6, 104.1, 30.7), tile_url="", attribution="", title="网格")
    page = assets.render(fmap, mode="standalone")
    rule = re.search(r"\.leaflet-container[^{]*\{font-family:([^}]*)\}", page)
    assert rule is not None and rule.group(1) == FONT_STACK
    faces = [face.strip().strip('"') for face in FONT_STACK.split(",")]
    # Debian's fonts-noto-cjk first (what the README tells to install), generic last.
    assert faces[0] == "Noto Sans CJK SC" and faces[-1] == "sans-serif"
    assert {"WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC"} <= set(faces)
