"""The RQ side of mailbus: worker processes (pool, worker), the job that parses and dispatches
(jobs), the authentication verdicts it attaches (auth), per-delivery records (ledger), crash
recovery (recovery) and dead letters (admin).

It imports `mailbus` and never `listener`; the listener enqueues `workers.jobs.process_message`
by name.
"""
