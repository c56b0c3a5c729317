// bench_accept: the benchmark's front door for Haraka (loopback only).
// Answers rDNS itself (so Haraka never calls dns.reverse for the load generator) and
// accepts every recipient, like mailbus with MAILBUS_DOMAINS=example.com for the bench's mail.

exports.register = function () {
    this.register_hook('lookup_rdns', 'bench_rdns')
    this.register_hook('rcpt', 'bench_rcpt')
}

exports.bench_rdns = (next) => next(OK, 'localhost')

exports.bench_rcpt = (next) => next(OK)
