"""`mailbus ingress`: provider webhooks in, with the SMTP listener's promise.

Teams whose mail already arrives through SES, Mailgun, Postmark or SendGrid point the provider's
inbound webhook here and keep the same handlers, retries and dead letters. Each request is
authenticated, its raw MIME and envelope extracted, then stored and enqueued exactly as the SMTP
listener does (`listener.persist`), and only then answered `200`; any store or queue failure is a
`503`, which every provider retries.

Module map:
    app        the ASGI app: bounded request bodies, one route per provider, persist, replies
    providers  Mailgun, Postmark and SendGrid: authenticate and extract (raw bytes, envelope)
    ses        SES through SNS: signature check, subscription confirmation, content or S3 object
    serve      processes, sockets and signals of `mailbus ingress`
"""
