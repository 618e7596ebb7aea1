"""Background jobs (后台任务): long work — a large upload's validation, a department
database's extract, a bulk export — runs off the request, records its progress in the
metadata database so any worker and the browser can follow it, and ends with a result or
a problem. See :mod:`zhili.jobs.runner`."""

from zhili.jobs.models import Job, JobStatus
from zhili.jobs.runner import JobContext, JobRunner, register
from zhili.jobs.service import get_job, list_jobs

__all__ = ["Job", "JobContext", "JobRunner", "JobStatus", "get_job", "list_jobs", "register"]
