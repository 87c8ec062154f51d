"""Helpers of the sandbox tests: reading every page of a window, parsing wire values."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx

MONEY = re.compile(r"^\d+\.\d{2}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def cents(value: str) -> int:
    """A money string as integer cents, refusing anything but AR's "123.45" form."""
    assert isinstance(value, str) and MONEY.match(value), value
    whole, frac = value.split(".")
    return int(whole) * 100 + int(frac)


def local(value: str) -> dt.datetime:
    """A local timestamp, refusing offsets and other forms."""
    assert isinstance(value, str) and STAMP.match(value), value
    return dt.datetime.fromisoformat(value)


def page(
    client: httpx.Client, stream: str, start: str, end: str, number: int = 1, **filters: Any
) -> dict[str, Any]:
    """One page of appointments or invoices (the `data` of the envelope)."""
    if stream == "appointments":
        body = {"start": start, "end": end, "page_number": number, **filters}
        resp = client.post("/api/appointment", json=body)
    else:
        body = {"fromDate": start, "toDate": end, "page_number": number, **filters}
        resp = client.post("/api/sales/invoices", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["status"] == 200 and isinstance(doc["message"], str)
    return dict(doc["data"])


def fetch_all(
    client: httpx.Client, stream: str, start: str, end: str, **filters: Any
) -> list[dict[str, Any]]:
    """Every record of a window, checking that the pagination adds up on the way."""
    first = page(client, stream, start, end, 1, **filters)
    total, last, per_page = first["total"], first["last_page"], first["per_page"]
    assert per_page == (100 if stream == "appointments" else 50)
    assert last == max(1, -(-total // per_page))
    rows = list(first["data"])
    for n in range(2, last + 1):
        data = page(client, stream, start, end, n, **filters)
        assert (data["current_page"], data["total"], data["last_page"]) == (n, total, last)
        assert len(data["data"]) == (per_page if n < last else total - per_page * (last - 1))
        rows.extend(data["data"])
    assert len(rows) == total
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "pages must be ordered by id"
    return rows


def get_all(client: httpx.Client, path: str, per_page: int = 500) -> list[dict[str, Any]]:
    """Every record of a reference endpoint."""
    rows: list[dict[str, Any]] = []
    n = 1
    while True:
        resp = client.get(path, params={"page_number": n, "per_page": per_page})
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        rows.extend(data["data"])
        if n >= data["last_page"]:
            assert len(rows) == data["total"]
            return rows
        n += 1
