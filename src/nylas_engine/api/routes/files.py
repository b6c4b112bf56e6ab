"""Files (docs/protocol.md §10): streamed multipart upload, metadata, streamed download, delete."""

from __future__ import annotations

from email.header import Header
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from nylas_engine.api.deps import AccountScope, account_scope, write_scope
from nylas_engine.api.errors import not_found
from nylas_engine.api.listing import list_response
from nylas_engine.api.metadata_query import refuse_metadata_filters
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import FileQuery
from nylas_engine.api.routing import SessionRoute, run_in_transaction
from nylas_engine.api.schemas import mail as shape
from nylas_engine.api.uploads import UploadedPart, receive_files
from nylas_engine.api.views.mail import file_json
from nylas_engine.store import files as store
from nylas_engine.store.models import File

# Their objects carry no metadata: a metadata_* filter is refused, not ignored.
router = APIRouter(route_class=SessionRoute, dependencies=[Depends(refuse_metadata_filters)])
UPLOAD_DOC = doc(reply=list[shape.File])
UPLOAD_DOC["openapi_extra"] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


@router.post("/files", **UPLOAD_DOC)
@router.post("/files/", include_in_schema=False)
async def upload(request: Request, scope: AccountScope = Depends(write_scope)) -> Any:
    parts = await receive_files(request, scope.ctx.blobs, scope.ctx.settings.max_upload_bytes)
    return await run_in_transaction(scope.session, _save_uploads, scope, parts)


def _save_uploads(scope: AccountScope, parts: list[UploadedPart]) -> list[dict[str, Any]]:
    created = [
        store.create_file(
            scope.session,
            scope.account,
            sha256=part.sha256,
            size=part.size,
            filename=part.filename,
            content_type=part.content_type,
        )
        for part in parts
    ]
    return [file_json(f, scope.account) for f in created]


@router.get("/files", **doc(reply=paged(shape.File)))
@router.get("/files/", include_in_schema=False)
def list_files(
    params: Annotated[FileQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    stmt = store.list_files(
        scope.account,
        filename=params.filename,
        message_id=params.message_id,
        content_type=params.content_type,
    )
    return list_response(
        params, scope.session, stmt, lambda f, expanded: file_json(f, scope.account, expanded)
    )


def _file(scope: AccountScope, file_id: str) -> File:
    check_id(file_id)
    file = store.find_file(scope.session, scope.account, file_id)
    if file is None:
        raise not_found(f"Couldn't find file {file_id}")
    return file


@router.get("/files/{file_id}", **doc(reply=shape.File))
def get_file(file_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    return file_json(_file(scope, file_id), scope.account)


@router.get("/files/{file_id}/download", **doc(media="application/octet-stream"))
def download(file_id: str, scope: AccountScope = Depends(account_scope)) -> StreamingResponse:
    file = _file(scope, file_id)
    blobs = scope.ctx.blobs
    if not blobs.exists(file.sha256):
        raise not_found("The data was deleted on the email server.")
    return StreamingResponse(
        blobs.iter_chunks(file.sha256),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(store.download_name(file)),
            "Content-Length": str(blobs.size(file.sha256)),
        },
    )


def content_disposition(name: str) -> str:
    """`attachment; filename=...`: quoted when latin-1 will do, else RFC 2047 encoded,
    plus an RFC 5987 `filename*` for any non-ASCII name."""
    try:
        name.encode("latin-1")
        plain = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    except UnicodeEncodeError:
        plain = '"' + Header(name, "utf-8").encode(maxlinelen=10_000) + '"'
    value = f"attachment; filename={plain}"
    if not name.isascii():
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


@router.delete("/files/{file_id}", **doc(409))
def delete_file(file_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    store.delete_file(_file(scope, file_id))
    return None
