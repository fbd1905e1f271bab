"""Bulk import of contacts and their consents (CSV and NDJSON, API.md "Import formats").

* `parse`: structure only — UTF-8, header, quoting, line length, JSON syntax.
  A malformed file is refused whole (`MalformedImport`, a 400 problem) before
  anything is written; `Source.records()` then reads it again lazily, so a
  200 MB file is not held twice as Python objects.
* `validate`: each record on its own (identifiers, notice, collected_at,
  suppression) → a `Valid` row or a `Rejection` (line, column, reason; never
  the rejected value, so reports hold no personal data).
* `write`: set-based writes per chunk — match existing contacts, skip consent
  events already in the ledger, upsert contacts (on PostgreSQL one INSERT … SELECT
  … FROM unnest(column arrays) … ON CONFLICT per chunk; executemany on
  SQLite), append ledger events in batches, upsert consent_state keeping
  "latest collected_at wins".
* `runner`: chunk after chunk, each committed with the job's progress (rows
  done, counts, rejections) in its own tenant transaction: the tenant's other
  writers go in between chunks; a kill loses at most the chunks being written.
* `jobs`: the ImportJob row, how an import starts, resumes (the same file
  again continues its interrupted job) and fails.
"""
