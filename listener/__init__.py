"""The SMTP front door: accept a message, make it durable, enqueue its job, only then answer 250.

`listener.server.serve(settings, processes=N)` is what `mailbus listen` runs; tests start one
in-process with `listener.server.start_server(settings)`. This package imports `mailbus` only,
never `workers` (the job is enqueued by its dotted name). Its attacks and answers are listed in
docs/threat-model.md.

Module map (the session imports the modules it uses; none of them imports the session):
    server    sockets, processes, signals, drain; builds one `ListenerContext` per process
    context   what all sessions of a process share (settings, persister, limits, counters)
    session   one connection, the `Session` class: admission, the command loop, every command
              (EHLO, HELO, STARTTLS and DATA's checks here), timers, error counts, drain
    protocol  aiosmtpd's SMTP protocol behind named methods: the only use of its private names
              and of asyncio's `StreamReader._buffer`
    greeting  the 220, and clients that talk before it
    proxy     the PROXY protocol header (the real client behind a load balancer)
    commands  one command line: read whole, split, vetted (bare LF, length, pipelining, HTTP)
    gate      the session's aiosmtpd handler: may the client MAIL, RCPT, STARTTLS now?
    data      DATA from 354 to the final reply: read, size and memory limits, persist, reply
    persist   store + enqueue, shielded from the session, bounded, committed in groups
    policy    envelope rules (HELO text, sender and recipient syntax, served domains)
    limits    connection counts and rates per client and process, error counts, DATA bytes
    load      overload guards: event-loop lag, queue backlog
    depth     the queue-depth line that lets workers scale from zero
    heartbeat each process's record and outcome counts in Redis, for the console's health page
    recipients  MAILBUS_RECIPIENT_CHECK: does a route (or the user's check) take this address?
    tls       the STARTTLS context and what a failed handshake tells the log
    replies   every reply text, with its enhanced status code
    metrics   the Prometheus series the listener exports

Where is ...
    a command handled?    session.py (`smtp_<VERB>`); gate.py decides MAIL, RCPT and STARTTLS
    DATA read?            data.py (`Transfer`, reading with `DataReader`)
    the 250 decided?      data.py (`Transfer._finish`, only after `Persister.persist` returned)
    a limit enforced?     limits.py (connections and rates at accept: `Admission`; errors and
                          junk: `ErrorCount`; bytes in flight: `ByteBudget`), gate.py (per
                          client rates, recipients), commands.py (line length), data.py
                          (message size), load.py (overload)
"""
