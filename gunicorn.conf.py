"""gunicorn's settings beyond the command line (read from the working directory: the
image's /app, or the repository). The command (docker-compose.yml, Dockerfile) still names
the bind address and the number of worker processes; README "Production" explains these.

Issue 11 (20 clerks while the batch runs, bench/clerks.py):

- Threads: each worker process serves up to `threads` requests at once. A request waiting
  on the database (a query, or a lock a batch holds) no longer keeps the clerks queued
  behind it waiting too; Python work still runs one thread at a time per process, so the
  processes stay about one per core.
- Persistent database connections (DB_CONN_MAX_AGE, 60 s unless set): without them every
  request forks a new PostgreSQL backend, whose catalogue caches start cold.
"""

import os

worker_class = "gthread"
threads = 4
# Behind Caddy: keep the proxy's connections open between a clerk's requests.
keepalive = 5

os.environ.setdefault("DB_CONN_MAX_AGE", "60")
