// bench_redis: a queue plugin that answers 250 only after Redis has the message:
// MULTI; SET haraka:raw:<uuid> <raw bytes>; RPUSH haraka:queue <uuid>; EXEC.
// The Redis URL comes from BENCH_REDIS_URL and the client module from BENCH_REDIS_MODULE
// (Haraka's own `redis` dependency, by absolute path).

const { createClient } = require(process.env.BENCH_REDIS_MODULE)

exports.register = function () {
    this.client = createClient({ url: process.env.BENCH_REDIS_URL })
    this.client.on('error', (err) => this.logerror(`redis: ${err.message}`))
    this.ready = this.client.connect()
    this.register_hook('queue', 'bench_redis')
}

exports.bench_redis = function (next, connection) {
    const txn = connection.transaction
    txn.message_stream.get_data((data) => {
        this.ready
            .then(() =>
                this.client
                    .multi()
                    .set(`haraka:raw:${txn.uuid}`, data)
                    .rPush('haraka:queue', txn.uuid)
                    .exec(),
            )
            .then(() => next(OK, `queued as ${txn.uuid}`))
            .catch((err) => {
                connection.logerror(this, `redis: ${err.message}`)
                next(DENYSOFT, 'try again later')
            })
    })
}
