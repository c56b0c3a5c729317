"""RQ's storage details stay behind mailbus/rqseam/ (its package docstring says why): no other
module of the deployables, the shared core or the benches names an RQ key, hash field, private
attribute or internal class. A hit names the file, the line and what it matched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEAM = ROOT / "mailbus" / "rqseam"
SCANNED = ("mailbus", "listener", "workers", "console", "bench")

# Each is something only the seam may know about how RQ stores things: a pattern, and a line
# from before the seam existed that it must catch.
FORBIDDEN = {
    "an RQ key prefix": (r"""["']rq:""", 'pipe.llen(f"rq:queue:{queue}")'),
    "an RQ key helper or prefix attribute": (
        r"\b(key_for|redis_(job|queue|worker)_namespace_prefix|redis_queues_keys"
        r"|intermediate_queue_key)\b",
        "pipe.lmove(queue.key, queue.intermediate_queue_key)",
    ),
    "a job's private attribute": (r"\._(result|status)\b", "job._status = JobStatus.FINISHED"),
    "a worker's private attribute": (r"\b_stop_requested\b", "if index and self._stop_requested:"),
    "RQ's version probe": (r"\bredis_server_version\b", "queue.redis_server_version = (0, 0, 0)"),
    "RQ's internal classes": (
        r"\b(rq\.executions|rq\.results|rq\.scheduler|RQScheduler|Execution)\b",
        "from rq.executions import Execution",
    ),
    "a job or worker hash field": (
        r"""["'](started_at|ended_at|last_heartbeat|current_job|successful_job_count"""
        r"""|total_working_time|death)["']""",
        'current = connection.hget(worker_key(name), "current_job")',
    ),
    "a job's Redis key": (r"\bjob\.key\b", "pipe.expire(job.key, result_ttl)"),
    "a worker method that writes RQ's records": (
        r"\.(set_current_job_id|set_current_job_working_time|perform_job|handle_job_failure"
        r"|prepare_for_execution|get_heartbeat_ttl)\(",
        "self.set_current_job_id(job.id)",
    ),
    "RQ's logger": (r"""["']rq\.worker["']""", 'logging.getLogger("rq.worker").addFilter(f)'),
}


def sources(*, seam: bool) -> list[Path]:
    found = [p for top in SCANNED for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in found if (SEAM in p.parents) == seam and ".venv" not in p.parts]


def hits(pattern: str, paths: list[Path]) -> list[str]:
    compiled = re.compile(pattern)
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in paths
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if compiled.search(line)
    ]


@pytest.mark.parametrize("what", FORBIDDEN)
def test_no_module_outside_the_seam_names_rq_internals(what: str) -> None:
    found = hits(FORBIDDEN[what][0], sources(seam=False))
    assert not found, f"{what} outside mailbus/rqseam/:\n" + "\n".join(found)


@pytest.mark.parametrize("what", FORBIDDEN)
def test_each_pattern_catches_what_the_code_did_before_the_seam(what: str) -> None:
    pattern, example = FORBIDDEN[what]
    assert re.search(pattern, example), f"{what}: {pattern!r} misses {example!r}"


def test_the_scan_reads_the_seam_and_the_rest() -> None:
    """An empty file list would pass everything: both sides must hold modules."""
    rest = {p.relative_to(ROOT).as_posix() for p in sources(seam=False)}
    assert {"workers/batch.py", "mailbus/queue.py", "listener/load.py"} <= rest
    assert len(sources(seam=True)) >= 5
