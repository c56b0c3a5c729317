"""A corpus of hostile messages for the console: each tries to run script, reach a remote host,
or make the page unusable when an operator opens it."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

REMOTE = "http://192.0.2.1"  # TEST-NET-1: no request may even be attempted to it

PAYLOAD_HTML = f"""<!doctype html><html><head>
<meta http-equiv="refresh" content="0;url={REMOTE}/refresh">
<base href="{REMOTE}/">
<link rel="stylesheet" href="{REMOTE}/link.css">
<style>@import url({REMOTE}/import.css);
body {{ background: url({REMOTE}/bg.png); }}
@font-face {{ font-family: x; src: url({REMOTE}/font.woff); }}
p {{ font-family: x; }}</style>
<script>window.__pwned = "script"; alert("script");</script>
<script src="{REMOTE}/remote.js"></script>
</head><body onload="window.__pwned='onload'">
<p>Hello <b>operator</b>, nothing here should run.</p>
<img src="x" onerror="window.__pwned='onerror'; alert('onerror')">
<img src="{REMOTE}/pixel.gif" alt="tracker">
<a id="js" href="javascript:window.__pwned='javascript';alert('javascript')">javascript link</a>
<a id="data" href="data:text/html,&lt;script&gt;alert('data')&lt;/script&gt;">data link</a>
<iframe src="data:text/html,<script>parent.__pwned='data-frame'</script>"></iframe>
<svg xmlns="http://www.w3.org/2000/svg"><script>window.__pwned='svg'</script>
<image href="{REMOTE}/svg.png"/></svg>
<object data="{REMOTE}/object.swf"></object>
<video src="{REMOTE}/video.mp4" autoplay></video>
<form action="{REMOTE}/form" method="post"><input name="x"><button id="go">go</button></form>
</body></html>"""

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=\'svg-file\'">'
    b"<script>window.__pwned='svg-file'</script></svg>"
)


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = '"<script>window.__pwned=1</script>" <mallory@example.net>'
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    return msg


def corpus() -> dict[str, bytes]:
    """name → raw message."""
    scripted = _message('<img src=x onerror="window.__pwned=1"> <script>alert(1)</script>')
    scripted.set_content("The text part.\n")
    scripted.add_alternative(PAYLOAD_HTML, subtype="html")
    scripted.add_attachment(SVG, maintype="image", subtype="svg+xml", filename="logo.svg")

    rtl = _message("Your invoice")
    rtl.set_content("See the attachment.\n")
    rtl.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                       filename="invoice\u202efdp.exe")  # fmt: skip
    rtl.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                       filename="javascript:alert(1).pdf")  # fmt: skip

    huge = _message("huge " + "A" * (5 * 1024 * 1024))
    huge.set_content("A 5 MB subject.\n")
    return {"scripted": bytes(scripted), "rtl": bytes(rtl), "huge": bytes(huge)}
