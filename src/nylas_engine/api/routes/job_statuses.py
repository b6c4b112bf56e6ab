"""`/job-statuses` (hosted v2): the status of the account's asynchronous operations. The
engine does every other write before it answers, so its only jobs are the outbox's
(api/views/jobs.py has their shape)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from nylas_engine.api.deps import AccountScope, account_scope
from nylas_engine.api.listing import list_response
from nylas_engine.api.openapi import doc, paged
from nylas_engine.api.params import check_id
from nylas_engine.api.query import CountOrIdsListQuery
from nylas_engine.api.routing import SessionRoute
from nylas_engine.api.schemas.admin import JobStatus
from nylas_engine.api.views.jobs import job_status_json
from nylas_engine.send import scheduled
from nylas_engine.store import outbox_jobs

router = APIRouter(route_class=SessionRoute)


@router.get(
    "/job-statuses",
    **doc(
        reply=paged(JobStatus),
    ),
)
@router.get("/job-statuses/", include_in_schema=False)
def list_job_statuses(
    params: Annotated[CountOrIdsListQuery, Query()], scope: AccountScope = Depends(account_scope)
) -> Any:
    return list_response(
        params,
        scope.session,
        outbox_jobs.listed(scope.account),
        lambda job, _expanded: job_status_json(job, scope.account),
    )


@router.get("/job-statuses/{job_status_id}", **doc(reply=JobStatus))
def get_job_status(job_status_id: str, scope: AccountScope = Depends(account_scope)) -> Any:
    job = scheduled.find(scope.session, scope.account, check_id(job_status_id))
    return job_status_json(job, scope.account)
