"""Photos of reports: attach (staff in scope), list and fetch (staff in scope only).

A photo is personal data (a resident's picture may show their home, their face, their plate):
its list and its bytes go only to accounts allowed ``read_report_contact`` whose scope reaches
the report. To anyone else the photos do not exist (404, not 403: an out-of-scope caller
learns nothing of whether a report has photos). Residents attach theirs with the report, from
``/app/report`` (``api.pages.resident``). Uploads are multipart, one ``photo`` part each; the
request body may be ``MAX_PHOTOS_BODY_BYTES`` (``api.hardening`` allows it on these routes
only), each photo at most 8 MB (``gis.reports.photos``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Path, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import Connection, text
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import require
from api.deps import BIGINT_MAX, ConnDep, EngineDep, ReportId, SettingsDep
from api.routes.reports import report_scope
from api.schemas.common import COMMON_ERRORS, error_responses
from api.schemas.photos import Photo
from gis.access.policy import Access, Permission, Principal, Role
from gis.access.scope import load_report_codes
from gis.core.errors import NotFound
from gis.core.vocabulary import PHOTO_CONTENT_TYPES, PhotoSource
from gis.reports.photos import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_REPORT,
    MAX_PHOTOS_PER_REQUEST,
    PhotoInfo,
    list_photos,
    open_photo,
    read_photo,
    store_photos,
)

PHOTOS_PATH = re.compile(r"/reports/[^/]+/photos")
# Room for the most photos one request takes, and the multipart framing around them.
MAX_PHOTOS_BODY_BYTES = MAX_PHOTO_BYTES * MAX_PHOTOS_PER_REQUEST + 256 * 1024
# A photo's bytes: never sniffed, never run as a document, kept in the caller's cache only.
PHOTO_HEADERS = {
    "Cache-Control": "private, max-age=3600",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
_MAX_NAME_CHARS = 80
PhotoId = Annotated[int, Path(ge=-BIGINT_MAX, le=BIGINT_MAX, description="the photo's id")]

router = APIRouter(tags=["reports"], responses=error_responses(*COMMON_ERRORS))


def photo_url(report_id: int, photo_id: int) -> str:
    """Where the bytes of a photo are served."""
    return f"/reports/{report_id}/photos/{photo_id}"


def photo_view(info: PhotoInfo) -> Photo:
    """A stored photo as the API shows it."""
    return Photo(
        id=info.id,
        report_id=info.report_id,
        content_type=info.content_type,
        bytes=info.bytes,
        width=info.width,
        height=info.height,
        source=info.source,
        event_id=info.event_id,
        created_at=info.created_at,
        url=photo_url(info.report_id, info.id),
    )


def upload_name(upload: StarletteUpload, index: int) -> str:
    """How a refusal names an uploaded photo: its file name (printable, short) or its rank."""
    name = "".join(c for c in (upload.filename or "") if c.isprintable())[:_MAX_NAME_CHARS]
    return name or f"photo {index + 1}"


def read_uploads(uploads: Sequence[StarletteUpload]) -> tuple[list[bytes], list[str]]:
    """The bytes of each uploaded photo (each read at most 8 MB + 1 byte far) and its name."""
    names = [upload_name(upload, i) for i, upload in enumerate(uploads)]
    return [read_photo(u.file, name=n) for u, n in zip(uploads, names, strict=True)], names


def account_id(conn: Connection, principal: Principal) -> int | None:
    """The id of the signed-in account (None for a resident)."""
    if principal.name is None:
        return None
    found = conn.execute(
        text("SELECT id FROM users WHERE name = :name"), {"name": principal.name}
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _in_scope(conn: Connection, access: Access, report_id: int) -> None:
    """``NotFound`` unless the report exists and the account's scope reaches it."""
    if not access.allows(load_report_codes(conn, report_id)):
        raise NotFound(f"no report with id {report_id} among those your account reaches")


@router.post(
    "/reports/{report_id}/photos",
    status_code=201,
    response_model=list[Photo],
    responses=error_responses(403, 404),
)
def add_photos(
    report_id: ReportId,
    engine: EngineDep,
    settings: SettingsDep,
    access: Annotated[Access, require(Permission.ADD_REPORT_PHOTOS, scope_of=report_scope)],
    photo: Annotated[
        list[UploadFile],
        File(
            min_length=1,
            max_length=MAX_PHOTOS_PER_REQUEST,
            description=f"one part per photo: JPEG or PNG, at most {MAX_PHOTO_BYTES} bytes "
            f"each, at most {MAX_PHOTOS_PER_REQUEST} per request and {MAX_PHOTOS_PER_REPORT} per "
            "report; stored without metadata",
        ),
    ],
) -> Any:
    """Attach photos to a report in the account's scope, all or none: a refused photo (not
    JPEG/PNG, over 8 MB, damaged, too many pixels or photos) is named in a 422 and nothing is
    stored. EXIF (GPS included) and every other metadata are dropped, orientation applied."""
    data, names = read_uploads(photo)
    source = PhotoSource.WORKER if access.principal.role is Role.WORKER else PhotoSource.STAFF
    with engine.begin() as conn:
        ids = store_photos(
            conn,
            report_id,
            data,
            source=source,
            account_id=account_id(conn, access.principal),
            settings=settings,
            names=names,
        )
        stored = {p.id: p for p in list_photos(conn, report_id)}
    return [photo_view(stored[i]) for i in ids]


@router.get(
    "/reports/{report_id}/photos",
    response_model=list[Photo],
    responses=error_responses(403, 404),
)
def photos(
    # The role first: an anonymous call is refused before a connection is taken.
    access: Annotated[Access, require(Permission.READ_REPORT_CONTACT)],
    conn: ConnDep,
    report_id: ReportId,
) -> Any:
    """A report's photos, oldest first, for accounts whose scope reaches it (else 404)."""
    _in_scope(conn, access, report_id)
    return [photo_view(info) for info in list_photos(conn, report_id)]


@router.get(
    "/reports/{report_id}/photos/{photo_id}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "the photo's bytes (no metadata)",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in PHOTO_CONTENT_TYPES
            },
        },
        **error_responses(403, 404),
    },
)
def photo_bytes(
    access: Annotated[Access, require(Permission.READ_REPORT_CONTACT)],
    conn: ConnDep,
    settings: SettingsDep,
    report_id: ReportId,
    photo_id: PhotoId,
) -> FileResponse:
    """One photo's bytes, for accounts whose scope reaches its report (else 404); private to
    the browser's cache, never sniffed as another type."""
    _in_scope(conn, access, report_id)
    info, path = open_photo(conn, report_id, photo_id, settings=settings)
    return FileResponse(path, media_type=info.content_type, headers=PHOTO_HEADERS)
