"""The hostile cases of issue 13, each reproduced: in process through the
`client` fixture, or against real server processes (the e2e fixtures)."""

from tests.e2e.conftest import engine, installation, server, smtp  # noqa: F401 (fixtures)
