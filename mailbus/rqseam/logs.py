"""RQ's log lines about a job carry the job id only in their text; this gives them the `id` field
our own lines carry."""

from __future__ import annotations

import logging
import re

from mailbus import logs

# mailbus.ids: job ids are message ids, and job descriptions are "message <id>"
_MESSAGE_ID = re.compile(r"(?<![0-9a-z])[0-9a-hjkmnp-tv-z]{26}(?![0-9a-z])")


class JobIdFilter(logging.Filter):
    """Give RQ's lines about a job ("<queue>: <id>", "Job OK (<id>)", "Successfully completed
    message <id> job") the `id` field our lines carry, so a search by id finds them too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "id" not in logs.fields_of(record):
            args = record.args if isinstance(record.args, tuple) else ()
            texts = [a for a in (getattr(record, "job_id", None), *args) if isinstance(a, str)]
            found = [m for a in texts for m in _MESSAGE_ID.findall(a)]
            if found:
                logs.add_fields(record, id=found[0])
        return True


_JOB_ID_FILTER = JobIdFilter()


def tag_rq_lines() -> None:
    """Install the filter on RQ's worker logger (idempotent: addFilter skips a repeat)."""
    logging.getLogger("rq.worker").addFilter(_JOB_ID_FILTER)
