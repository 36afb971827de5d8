"""Photos of reports: checked, stripped of every metadata, stored as files outside the database.

A photo is taken only when its bytes are a JPEG or a PNG (sniffed from the bytes with Pillow,
never from a file name or a declared content type), at most ``MAX_PHOTO_BYTES`` and
``MAX_PHOTO_PIXELS``. It is decoded and re-encoded from its pixels alone, after the EXIF
orientation is applied, so nothing of the original file survives but the picture: no EXIF (the
phone's GPS position among it), no XMP, no comment, no text chunk, no colour profile.

The stored file is named by the SHA-256 of its bytes under ``Settings.photo_path`` (one
sub-directory per first two hex digits), written to a temporary file and renamed, mode 0640;
a row of ``report_photos`` points to it. Files are written before the rows, so a failed insert
leaves at most an unreferenced file (harmless: content-addressed), never a row without its
file. Several photos are taken all or none: one refused, none is stored.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput, NotFound, Unavailable
from gis.core.private_files import write_private
from gis.core.settings import Settings, get_settings
from gis.core.vocabulary import PHOTO_SOURCES

MAX_PHOTO_BYTES = 8 * 1024 * 1024
# 50 megapixels: a phone's full-resolution picture passes; a small file that would decode to
# gigabytes of pixels (a decompression bomb) does not.
MAX_PHOTO_PIXELS = 50_000_000
MAX_PHOTOS_PER_REQUEST = 6
MAX_PHOTOS_PER_REPORT = 20
PHOTO_FILE_MODE = 0o640
PHOTO_DIR_MODE = 0o750
JPEG_QUALITY = 88

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png"}

# What a refused file most likely is, by its first bytes: named in the refusal.
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"RIFF", "a RIFF file (WebP?)"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"<", "HTML or XML text"),
)
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PhotoRefused(InvalidInput):
    """A photo was refused (not JPEG/PNG, too large, damaged, too many); none was stored."""


@dataclass(frozen=True)
class PhotoInfo:
    """A stored photo of a report: what the row says of its file."""

    id: int
    report_id: int
    sha256: str
    content_type: str
    bytes: int
    width: int
    height: int
    source: str
    account_id: int | None
    event_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class _Cleaned:
    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int


def photo_directory(settings: Settings | None = None) -> Path:
    """Where photo files live (``GRIDPATROL_PHOTO_DIR``, by default ``<home>/photos``)."""
    return (settings or get_settings()).photo_path


def photo_file(directory: Path, sha256: str, content_type: str) -> Path:
    """The path of the stored file with this hash (its name says nothing but the hash)."""
    return directory / sha256[:2] / f"{sha256}{SUFFIXES[content_type]}"


def read_photo(stream: IO[bytes], *, name: str, limit: int = MAX_PHOTO_BYTES) -> bytes:
    """The bytes of one uploaded photo, read at most ``limit + 1`` bytes far: a larger one is
    refused before more of it is buffered."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PhotoRefused(f"{name}: larger than {_megabytes(limit)}; send a smaller photo")
    return data


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def _sniff(data: bytes) -> str:
    """``JPEG`` or ``PNG`` from the first bytes; a refusal naming what it looks like else."""
    if data.startswith(_JPEG_MAGIC):
        return "JPEG"
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    head = data[:64].lstrip()
    looks = next((what for magic, what in _OTHER_FORMATS if head.startswith(magic)), None)
    if not data:
        looks = "empty"
    elif b"ftypheic" in data[:32] or b"ftypheix" in data[:32] or b"ftypmif1" in data[:32]:
        looks = "a HEIC image"
    return "not a JPEG or PNG image" + (f" (it is {looks})" if looks else "")


def clean_photo(data: bytes, *, name: str = "photo") -> _Cleaned:
    """Check one photo and re-encode it from its pixels, upright, without any metadata."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"{name}: larger than {_megabytes(MAX_PHOTO_BYTES)}")
    sniffed = _sniff(data)
    if sniffed not in CONTENT_TYPES:
        raise PhotoRefused(f"{name}: {sniffed}; send a JPEG or PNG photo")
    try:
        with warnings.catch_warnings():
            # Pillow warns past its own pixel limit and raises past twice that; ours is lower
            # and checked from the header before any pixel is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[sniffed]) as image:
                width, height = image.size
                if width * height > MAX_PHOTO_PIXELS:
                    raise PhotoRefused(
                        f"{name}: {width}×{height} is too many pixels (at most "
                        f"{MAX_PHOTO_PIXELS // 1_000_000} megapixels); send a smaller photo"
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
    except PhotoRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused(
            f"{name}: decodes to too many pixels (a decompression bomb?); send a smaller photo"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoRefused(
            f"{name}: a damaged or incomplete {sniffed} image ({exc}); send it again"
        ) from None
    return _encode(upright, sniffed)


def _encode(image: Image.Image, kind: str) -> _Cleaned:
    """The picture alone: a new image from the pixels (no ``info``, no EXIF), encoded anew."""
    if kind == "JPEG":
        mode = image.mode if image.mode in ("L", "RGB") else "RGB"
    else:
        transparent = image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info
        if image.mode in ("L", "LA", "RGB", "RGBA"):
            mode = image.mode
        else:
            mode = "RGBA" if transparent else "RGB"
    converted = image if image.mode == mode else image.convert(mode)
    bare = Image.frombytes(mode, converted.size, converted.tobytes())
    out = io.BytesIO()
    if kind == "JPEG":
        bare.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    else:
        bare.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    return _Cleaned(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=CONTENT_TYPES[kind],
        width=bare.width,
        height=bare.height,
    )


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically (a temporary file renamed), mode 0640; a file
    already there has the same bytes (its name is their hash) and is kept."""
    if path.exists():
        return
    path.parent.mkdir(mode=PHOTO_DIR_MODE, parents=True, exist_ok=True)
    # No fsync, for the uploads' speed: a power cut right after one may lose its file, which
    # open_photo then reports as missing (503) rather than serving a torn one.
    write_private(path, data, mode=PHOTO_FILE_MODE, sync=False)


def store_photos(
    conn: Connection,
    report_id: int,
    photos: Sequence[bytes],
    *,
    source: str,
    account_id: int | None = None,
    event_id: int | None = None,
    settings: Settings | None = None,
    names: Sequence[str] | None = None,
) -> list[int]:
    """Store ``photos`` of ``report_id`` (all or none); returns the new photos' ids in order.

    ``source``: who sent them (resident, worker or staff); ``account_id`` the signed-in
    account, ``event_id`` the report's event they belong to (a resolve's photo); ``names`` what
    the refusal calls each photo (its file name; default "photo 1", "photo 2"…).
    ``PhotoRefused`` names the first photo refused and why, ``NotFound`` an unknown report.
    """
    if source not in PHOTO_SOURCES:
        raise InvalidInput(f"source: one of {', '.join(PHOTO_SOURCES)}, got {source!r}")
    if not photos:
        return []
    if len(photos) > MAX_PHOTOS_PER_REQUEST:
        raise PhotoRefused(
            f"photos: at most {MAX_PHOTOS_PER_REQUEST} at once, got {len(photos)}; "
            "nothing was stored"
        )
    labels = list(names or [])
    labels += [f"photo {i + 1}" for i in range(len(labels), len(photos))]
    # Locks the report: two uploads at once cannot pass the per-report limit together.
    row = conn.execute(
        text(
            "SELECT r.id, (SELECT count(*) FROM report_photos p WHERE p.report_id = r.id) AS n "
            "FROM reports r WHERE r.id = :id FOR UPDATE OF r"
        ),
        {"id": report_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"report {report_id} does not exist")
    if row.n + len(photos) > MAX_PHOTOS_PER_REPORT:
        raise PhotoRefused(
            f"photos: report {report_id} has {row.n} photo(s); at most {MAX_PHOTOS_PER_REPORT} "
            f"in all, so {len(photos)} more cannot be added; nothing was stored"
        )
    if event_id is not None:
        owner = conn.execute(
            text("SELECT report_id FROM report_events WHERE id = :id"), {"id": event_id}
        ).scalar_one_or_none()
        if owner != report_id:
            raise InvalidInput(f"event {event_id} is not an event of report {report_id}")
    cleaned: list[_Cleaned] = []
    for data, label in zip(photos, labels, strict=True):
        try:
            cleaned.append(clean_photo(data, name=label))
        except PhotoRefused as exc:
            raise PhotoRefused(f"{exc.detail}; nothing was stored") from None
    directory = photo_directory(settings)
    try:
        for photo in cleaned:
            _write_file(photo_file(directory, photo.sha256, photo.content_type), photo.data)
    except OSError as exc:
        raise Unavailable(
            f"photos cannot be written to {directory} ({exc.strerror}); "
            "check GRIDPATROL_PHOTO_DIR and its permissions"
        ) from None
    ids = conn.execute(
        text(
            "INSERT INTO report_photos (report_id, sha256, content_type, bytes, width, height, "
            "source, account_id, event_id) "
            "SELECT :report_id, p.sha256, p.content_type, p.bytes, p.width, p.height, "
            ":source, :account_id, :event_id "
            "FROM unnest(CAST(:sha AS text[]), CAST(:ctype AS text[]), CAST(:size AS int[]), "
            "CAST(:w AS int[]), CAST(:h AS int[])) WITH ORDINALITY "
            "AS p (sha256, content_type, bytes, width, height, n) ORDER BY p.n RETURNING id"
        ),
        {
            "report_id": report_id,
            "source": source,
            "account_id": account_id,
            "event_id": event_id,
            "sha": [p.sha256 for p in cleaned],
            "ctype": [p.content_type for p in cleaned],
            "size": [len(p.data) for p in cleaned],
            "w": [p.width for p in cleaned],
            "h": [p.height for p in cleaned],
        },
    ).scalars()
    return sorted(int(i) for i in ids)


_COLUMNS = (
    "id, report_id, sha256, content_type, bytes, width, height, source, account_id, event_id, "
    "created_at"
)


def list_photos(conn: Connection, report_id: int) -> list[PhotoInfo]:
    """The photos of ``report_id``, oldest first (empty for a report without any)."""
    rows = conn.execute(
        text(f"SELECT {_COLUMNS} FROM report_photos WHERE report_id = :id ORDER BY id"),
        {"id": report_id},
    ).mappings()
    return [PhotoInfo(**row) for row in rows]


def count_photos(conn: Connection, report_id: int, *, source: str | None = None) -> int:
    """How many photos ``report_id`` has (of ``source`` only, when given)."""
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM report_photos WHERE report_id = :id "
                "AND (CAST(:source AS text) IS NULL OR source = :source)"
            ),
            {"id": report_id, "source": source},
        ).scalar_one()
    )


def open_photo(
    conn: Connection, report_id: int, photo_id: int, *, settings: Settings | None = None
) -> tuple[PhotoInfo, Path]:
    """The photo ``photo_id`` of ``report_id`` and the path of its file.

    ``NotFound`` when the report has no such photo; ``Unavailable`` when its file is gone
    (the photo directory was moved or not backed up with the database).
    """
    row = (
        conn.execute(
            text(f"SELECT {_COLUMNS} FROM report_photos WHERE id = :photo AND report_id = :id"),
            {"photo": photo_id, "id": report_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"report {report_id} has no photo {photo_id}")
    info = PhotoInfo(**row)
    path = photo_file(photo_directory(settings), info.sha256, info.content_type)
    if not path.is_file():
        raise Unavailable(
            f"photo {photo_id} of report {report_id}: its file {path.name} is missing from "
            f"{path.parent.parent}; restore the photo directory (GRIDPATROL_PHOTO_DIR)"
        )
    return info, path
