"""The SMTP front door: accept a message, make it durable, enqueue its job, only then answer 250.

`listener.server.serve(settings, processes=N)` is what `mailbus listen` runs; tests start one
in-process with `listener.server.start_server(settings)`. This package imports `mailbus` only,
never `workers` (the job is enqueued by its dotted name). Its attacks and answers are listed in
docs/threat-model.md.

Module map (the session imports the modules it uses; none of them imports the session):
    server    sockets, processes, signals, drain; builds one `ListenerContext` per process
    context   what all sessions of a process share (settings, persister, limits, guards)
    session   one connection, the `Session` class: admission, greeting and PROXY header, the
              command loop, every command (EHLO, HELO, STARTTLS here; MAIL/RCPT via gate, DATA
              via data), timers, error counts, drain
    protocol  aiosmtpd's SMTP protocol behind named methods: the only use of its private names
              and of asyncio's `StreamReader._buffer`
    commands  one command line: read whole, split, vetted (bare LF, length, pipelining, HTTP)
    gate      MAIL and RCPT: the session's aiosmtpd handler, deciding on each address
    data      DATA from the command to the final reply: read, size and memory limits, persist
    persist   store + enqueue, shielded from the session, bounded, committed in groups
    policy    envelope rules (HELO text, sender and recipient syntax, served domains)
    limits    connection counts and rates per client and process, the DATA byte budget
    load      overload guards: event-loop lag, queue backlog
    proxy     the PROXY protocol header (real client behind a load balancer)
    tls       the STARTTLS context and what a failed handshake tells the log
    replies   every reply text, with its enhanced status code
    metrics   the Prometheus series the listener exports

Where is ...
    a command handled?       session.py (`smtp_<VERB>`); MAIL and RCPT decided in gate.py
    DATA read?               data.py (`Transfer`, `DataReader`)
    the 250 decided?         data.py (`Transfer._finish`, only after `Persister.persist`)
    a limit enforced?        limits.py (connections, rates, bytes in flight: `at_accept`,
                             `admit`, `ByteBudget`), commands.py (line length, errors counted in
                             session.py), data.py (message size), gate.py (recipients, rates)
"""
