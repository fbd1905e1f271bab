"""Imports commit chunk by chunk (issue 14 §4): the job row says how far it got.

* `import_job.rows_done` — how many of the file's rows (data lines, in file
  order) are committed, with their counts and rejections; a resumed import
  starts after them.
* `import_job.file_sha256` — the SHA-256 of the imported bytes: the same file
  sent again (or the same command run again) finds the interrupted job and
  resumes it instead of starting over.
* `import_job.progressed_at` — when its last chunk committed: a `running` job
  that has not moved for minutes has no process (housekeeping fails it).

Only additions to an existing tenant table (its key and policies unchanged).
"""

from optinbase.schema import raw_migration

ID = "2026-12-01T13:47:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "import progress: rows done, file digest, last progress"

STATEMENTS = [  # the same on both engines
    "ALTER TABLE import_job ADD COLUMN rows_done INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE import_job ADD COLUMN file_sha256 VARCHAR(64) NULL",
    "ALTER TABLE import_job ADD COLUMN progressed_at TIMESTAMPTZ NULL",
    "CREATE INDEX import_job_file ON import_job (tenant_id, file_sha256)",
]

forwards = raw_migration(ID, "consent", DESCRIPTION, STATEMENTS, STATEMENTS)
