"""`optinbase` — the operator's command line, the top of the import graph: it
imports the domains, none of them imports it. `main` parses and dispatches;
the commands live by subject (`service`, `tenancy`, `data`)."""
