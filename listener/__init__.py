"""The SMTP front door: accept a message, make it durable, enqueue its job, only then answer 250.

`listener.server.serve(settings, processes=N)` is what `mailbus listen` runs; tests start one
in-process with `listener.server.start_server(settings)`. This package imports `mailbus` only,
never `workers` (the job is enqueued by its dotted name).
"""
