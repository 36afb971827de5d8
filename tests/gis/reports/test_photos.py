"""Photos of reports: only JPEG/PNG, every metadata dropped, upright, all or none stored."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import Engine, text

from gis.core.errors import NotFound
from gis.core.settings import Settings
from gis.reports.intake import ReportInput, submit_report
from gis.reports.photos import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_REPORT,
    MAX_PHOTOS_PER_REQUEST,
    PhotoRefused,
    list_photos,
    open_photo,
    store_photos,
)
from tests.conftest import CATEGORIES, settings_for

GPS_IFD = 0x8825
ORIENTATION = 0x0112
# A point of the demo city (the reports' tests use it too).
LAT, LON = 30.6598, 104.0633


def gps_exif(*, orientation: int = 1) -> Image.Exif:
    """EXIF with a GPS position (30°39'35"N 104°3'48"E) and an orientation."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = {
        1: "N",
        2: (30.0, 39.0, 35.0),
        3: "E",
        4: (104.0, 3.0, 48.0),
    }
    return exif


def jpeg_with_gps(size: tuple[int, int] = (64, 32), *, orientation: int = 1) -> bytes:
    """A JPEG whose left half is red, right half blue, with GPS EXIF, XMP and a comment."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    image.save(
        out,
        format="JPEG",
        exif=gps_exif(orientation=orientation),
        comment=b"taken at home",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret</x:xmpmeta>',
        quality=95,
    )
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "my address is 1 Main St")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS 30.66 104.06</x:xmpmeta>")
    image = Image.new("RGBA", (20, 10), (0, 128, 0, 200))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, exif=gps_exif())
    return out.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    """A valid PNG header of ``side``×``side`` pixels (400 megapixels) in a few hundred KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (side + 1) * 50)  # only a few rows: the header is the bomb
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _report(engine: Engine) -> int:
    with engine.begin() as conn:
        report = submit_report(
            conn,
            ReportInput(lat=LAT, lon=LON, category="sanitation", description="photo test"),
            categories=CATEGORIES,
        ).report
    return int(report["id"])


@pytest.fixture
def setup(city_engine: Engine, tmp_path: Path) -> tuple[Engine, Settings, int]:
    settings = settings_for(city_engine, photo_dir=tmp_path / "photos")
    return city_engine, settings, _report(city_engine)


def tmp_path_of(settings: Settings) -> Path:
    assert settings.photo_dir is not None
    return settings.photo_dir


def test_photos_live_under_home_unless_configured(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).photo_path == tmp_path / "photos"
    assert Settings(home=tmp_path, photo_dir=tmp_path / "p").photo_path == tmp_path / "p"


def _files(settings: Settings) -> list[Path]:
    root = settings.photo_path
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM report_photos")).scalar_one())


def _store(
    engine: Engine, settings: Settings, report_id: int, photos: list[bytes], **kw: Any
) -> list[int]:
    with engine.begin() as conn:
        return store_photos(conn, report_id, photos, source="resident", settings=settings, **kw)


def test_jpeg_stored_without_exif_gps_xmp_or_comment(setup: tuple[Engine, Settings, int]) -> None:
    engine, settings, report_id = setup
    original = jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as check:  # the fixture does carry the metadata
        assert GPS_IFD in check.getexif() and "comment" in check.info and "xmp" in check.info
    (photo_id,) = _store(engine, settings, report_id, [original])
    with engine.connect() as conn:
        info, path = open_photo(conn, report_id, photo_id, settings=settings)
        assert list_photos(conn, report_id) == [info]
    stored = path.read_bytes()
    assert b"taken at home" not in stored and b"secret" not in stored and b"Exif" not in stored
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        assert not {"exif", "comment", "xmp", "icc_profile"} & set(image.info)
        assert image.size == (64, 32) == (info.width, info.height)
    assert info.content_type == "image/jpeg" and info.bytes == len(stored)
    assert info.source == "resident" and info.account_id is None and info.event_id is None
    assert path.parent.parent == tmp_path_of(settings)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert path.stem == info.sha256 == hashlib.sha256(stored).hexdigest()


def test_orientation_applied_before_exif_dropped(setup: tuple[Engine, Settings, int]) -> None:
    engine, settings, report_id = setup
    # Orientation 6: the camera was turned; viewers rotate 90° clockwise to show it upright.
    (photo_id,) = _store(engine, settings, report_id, [jpeg_with_gps(orientation=6)])
    with engine.connect() as conn:
        info, path = open_photo(conn, report_id, photo_id, settings=settings)
    with Image.open(path) as image:
        assert image.size == (32, 64) == (info.width, info.height)
        rgb = image.convert("RGB")
        # The red left half is on top once turned clockwise.
        top, bottom = rgb.getpixel((16, 8)), rgb.getpixel((16, 56))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_png_text_chunks_and_exif_stripped(setup: tuple[Engine, Settings, int]) -> None:
    engine, settings, report_id = setup
    (photo_id,) = _store(engine, settings, report_id, [png_with_text()])
    with engine.connect() as conn:
        info, path = open_photo(conn, report_id, photo_id, settings=settings)
    data = path.read_bytes()
    assert b"Main St" not in data and b"xmpmeta" not in data
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"):
        assert chunk not in data
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGBA" and image.size == (20, 10)
        assert image.getpixel((3, 3)) == (0, 128, 0, 200)
        assert isinstance(image, PngImagePlugin.PngImageFile) and not image.text
    assert info.content_type == "image/png"


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="GIF")
    return out.getvalue()


BAD_PHOTOS = {
    "gif": (_gif, "it is a GIF image"),
    "truncated_jpeg": (lambda: jpeg_with_gps((400, 300))[:900], "damaged or incomplete JPEG"),
    "pdf_named_jpg": (lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
    "html_named_jpg": (lambda: b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
    "nine_megabytes": (
        lambda: jpeg_with_gps() + b"\x00" * (9 * 1024 * 1024),
        f"larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
    ),
    "decompression_bomb": (png_bomb, "too many pixels"),
    "sixty_four_megapixels": (lambda: png_bomb(8000), "8000×8000 is too many pixels"),
    "empty": (lambda: b"", "it is empty"),
}


@pytest.mark.parametrize("kind", sorted(BAD_PHOTOS))
def test_bad_photo_refused_and_nothing_stored(
    setup: tuple[Engine, Settings, int], kind: str
) -> None:
    engine, settings, report_id = setup
    make, expected = BAD_PHOTOS[kind]
    good = jpeg_with_gps()
    with pytest.raises(PhotoRefused) as refused:
        _store(engine, settings, report_id, [good, make()], names=["ok.jpg", "second.jpg"])
    assert expected in refused.value.detail
    assert refused.value.detail.startswith("second.jpg: ")
    assert "nothing was stored" in refused.value.detail
    assert _rows(engine) == 0 and _files(settings) == []


def test_too_many_photos(setup: tuple[Engine, Settings, int]) -> None:
    engine, settings, report_id = setup
    photo = jpeg_with_gps()
    with pytest.raises(PhotoRefused, match=f"at most {MAX_PHOTOS_PER_REQUEST} at once"):
        _store(engine, settings, report_id, [photo] * (MAX_PHOTOS_PER_REQUEST + 1))
    assert _rows(engine) == 0 and _files(settings) == []
    # Up to the report's total: the same picture stored many times is one file.
    stored: list[int] = []
    while len(stored) + MAX_PHOTOS_PER_REQUEST <= MAX_PHOTOS_PER_REPORT:
        stored += _store(engine, settings, report_id, [photo] * MAX_PHOTOS_PER_REQUEST)
    assert len(_files(settings)) == 1
    left = MAX_PHOTOS_PER_REPORT - len(stored)
    with pytest.raises(PhotoRefused, match=f"at most {MAX_PHOTOS_PER_REPORT} in all"):
        _store(engine, settings, report_id, [photo] * (left + 1))
    assert _rows(engine) == len(stored)


def test_unknown_report_and_photo(setup: tuple[Engine, Settings, int]) -> None:
    engine, settings, report_id = setup
    with pytest.raises(NotFound):
        _store(engine, settings, report_id + 1000, [jpeg_with_gps()])
    (photo_id,) = _store(engine, settings, report_id, [jpeg_with_gps()])
    other = _report(engine)
    with engine.connect() as conn, pytest.raises(NotFound):
        open_photo(conn, other, photo_id, settings=settings)


def test_failed_insert_leaves_no_row(setup: tuple[Engine, Settings, int]) -> None:
    engine, settings, report_id = setup
    # A worker's photo naming an event of another report is refused before anything is stored.
    other = _report(engine)
    with engine.connect() as conn:
        event_id = conn.execute(
            text("SELECT max(id) FROM report_events WHERE report_id = :id"), {"id": other}
        ).scalar_one()
    if event_id is None:
        pytest.skip("intake writes no event in this schema")
    with pytest.raises(Exception, match="not an event of report"):
        _store(engine, settings, report_id, [jpeg_with_gps()], event_id=event_id)
    assert _rows(engine) == 0
