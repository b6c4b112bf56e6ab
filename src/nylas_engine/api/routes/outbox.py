"""The outbox, `/v2/outbox` (hosted v2; the path nylas-legacy and the Node SDK 6.x call):
schedule a message (202), list, read, change or cancel it while it is pending. The engine
sends it at its `send_at` (send/scheduled.py, send/scheduler.py); its outcome shows in
`/job-statuses` and in `job.successful` / `job.failed` webhooks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from nylas_engine.api.deps import AccountScope, account_scope, json_object, write_scope
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import CountOrIdsListQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas.admin import OutboxJob as JobStatus
from nylas_engine.api.schemas.admin import ScheduleInput
from nylas_engine.api.views.jobs import outbox_json
from nylas_engine.send import scheduled
from nylas_engine.store import outbox_jobs

router = APIRouter(route_class=SessionRoute)

PATH = "/v2/outbox"


@router.get(
    PATH,
    **doc(
        reply=paged(JobStatus),
    ),
)
@router.get(PATH + "/", include_in_schema=False)
def list_outbox(
    params: Annotated[CountOrIdsListQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    return list_response(
        params,
        scope.session,
        outbox_jobs.listed(scope.account, cancelled=False),
        lambda job, _expanded: outbox_json(job, scope.account),
    )


@router.post(PATH, **doc(reply=JobStatus, status=202, body=ScheduleInput))
@router.post(PATH + "/", include_in_schema=False)
def schedule_message(
    body: dict[str, Any] = Depends(json_object), scope: AccountScope = Depends(write_scope)
) -> Any:
    job = scheduled.schedule(scope.session, scope.account, body)
    return JSONResponse(outbox_json(job, scope.account), status_code=202)


@router.get(PATH + "/{job_status_id}", **doc(reply=JobStatus))
def get_outbox_job(job_status_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    job = scheduled.find(scope.session, scope.account, check_id(job_status_id))
    return outbox_json(job, scope.account)


@router.patch(PATH + "/{job_status_id}", **doc(409, reply=JobStatus, body=ScheduleInput))
@router.put(PATH + "/{job_status_id}", include_in_schema=False)
def update_outbox_job(
    job_status_id: str,
    body: dict[str, Any] = Depends(json_object),
    scope: AccountScope = Depends(write_scope),
) -> Any:
    job = scheduled.reschedule(scope.session, scope.account, check_id(job_status_id), body)
    return outbox_json(job, scope.account)


@router.delete(PATH + "/{job_status_id}", **doc(409, reply=JobStatus))
def cancel_outbox_job(job_status_id: str, scope: AccountScope = Depends(write_scope)) -> Any:
    job = scheduled.cancel(scope.session, scope.account, check_id(job_status_id))
    return outbox_json(job, scope.account)
