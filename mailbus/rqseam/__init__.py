"""How RQ stores things: the one place that names RQ's Redis keys, its hash fields, its private
attributes and internal classes (executions, results, the intermediate list, the scheduler's
locks) and the shape of its log lines. Every other module uses RQ's documented API (`Queue`,
`Job.fetch`, the registries, `Retry`) or this package, so an RQ upgrade is a change here, and
tests/workers/test_rq_conformance.py says what broke: it runs the same jobs through RQ's own
SimpleWorker and through the batch worker and compares the Redis state field by field
(tests/unit/test_rq_seam.py keeps RQ's names out of every other module).

The writes copy RQ 2.12's own, trimmed to what a mailbus job needs (no dependents, no
callbacks), in one transaction where RQ makes several round trips.

    layout     the keys of queues, jobs and workers; the counts and reads mailbus makes itself
    enqueue    JobTemplate: RQ's job records for a group of jobs in one Lua script (listener)
    started    take, start, finish, put back or dead-letter started jobs (batch worker, recovery)
    schedule   retries scheduled for later: RQ's scheduler and its lock, burst-mode promotion
    logs       the `id` field on RQ's own log lines about a job
"""
