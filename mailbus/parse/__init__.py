"""Turning raw message bytes into an `InboundMessage`: `parse()` and its `ParseLimits`.

The package is pure (no I/O) and total (it never raises); its modules each do one job: `lines`
keeps line ends as received, `mime` walks the tree, `headers`/`params`/`addresses` read header
fields, `charsets`, `transfer` and `filenames` decode, `attachments`/`bodies`/`tnef` sort and
unpack parts, `classify`, `reply`, `reply_html` and `security` add meaning, and `build` puts it
together.
"""

from mailbus.parse.build import parse
from mailbus.parse.limits import ParseLimits

__all__ = ["ParseLimits", "parse"]
