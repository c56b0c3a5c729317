"""Turning raw message bytes into an `InboundMessage`: `parse()` and its `ParseLimits`.

The package is pure (no I/O) and total (it never raises); its modules each do one job: `mime` walks
the tree, `headers`/`params`/`addresses` read header fields, `charsets`, `transfer` and `filenames`
decode, `attachments`/`bodies`/`tnef` sort and unpack parts, `classify` and `reply` add meaning,
and `build` puts it together.
"""

from mailbus.parse.build import parse
from mailbus.parse.limits import ParseLimits

__all__ = ["ParseLimits", "parse"]
