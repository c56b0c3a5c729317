"""The web console (`mailbus console`): messages, their timelines, dead letters and health, read
from Redis and the store. A deployable of its own: it imports `mailbus` only.

app (routes, guard, safety headers) · views (pages and the requeue action) · auth (token, session
cookie, CSRF) · data (index, summaries, status) · health · templates (Jinja2, filters) · server
"""
