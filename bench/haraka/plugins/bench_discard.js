// bench_discard: a queue plugin that keeps nothing and answers 250 (Haraka's protocol cost).

exports.register = function () {
    this.register_hook('queue', 'bench_discard')
}

exports.bench_discard = (next) => next(OK)
