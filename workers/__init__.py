"""The RQ side of mailbus: worker processes (pool, worker), the job that parses and dispatches
(jobs), the authentication verdicts it attaches (auth), per-delivery records (ledger) and which
one a copy shares (claims) and crash recovery (recovery); dead letters are listed and requeued by
`mailbus.deadletters`, which the CLI and the console share.

It imports `mailbus` and never `listener`; the listener enqueues `workers.jobs.process_message`
by name.
"""
