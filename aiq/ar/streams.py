"""The stream catalogue: what aiq reads from AR, where, with which request, and how it is mapped.

Reference streams (categories, clinics, staff, services, products) are small lists read whole
on every run. Windowed streams (appointments, invoices) are read by date windows: a request body
names the window, and AR pages inside it. Only this module (with the client and the mapping)
knows AR's paths and request bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiq.ar import mapping


@dataclass(frozen=True)
class ReferenceStream:
    """A list read whole: ``GET path?per_page=500``, page after page."""

    name: str
    path: str
    mapper: Callable[[int, dict[str, Any]], dict[str, Any]]

    def request(self) -> dict[str, Any]:
        """The keyword arguments of ``ARClient.paginate`` for this stream."""
        return {"method": "GET", "path": self.path, "params": {"per_page": 500}}


@dataclass(frozen=True)
class WindowedStream:
    """Records read by date window: ``POST path`` with the window in the body."""

    name: str
    path: str
    mapper: Callable[..., Any]
    start_key: str
    end_key: str
    per_page: int
    """Records a page holds (AR fixes it per endpoint); request windows are sized by it."""
    extra: tuple[tuple[str, Any], ...] = ()

    def request(self, start: date, end: date) -> dict[str, Any]:
        """The keyword arguments of ``ARClient.paginate`` for the window ``[start, end]``."""
        body: dict[str, Any] = {self.start_key: start.isoformat(), self.end_key: end.isoformat()}
        body.update((k, list(v) if isinstance(v, tuple) else v) for k, v in self.extra)
        return {"method": "POST", "path": self.path, "json_body": body}


REFERENCE_STREAMS: dict[str, ReferenceStream] = {
    s.name: s
    for s in (
        ReferenceStream("product_categories", "/api/product-categories", mapping.map_category),
        ReferenceStream("clinics", "/api/clinics", mapping.map_clinic),
        ReferenceStream("users", "/api/users", mapping.map_staff),
        ReferenceStream("services", "/api/services", mapping.map_service),
        ReferenceStream("products", "/api/products", mapping.map_product),
    )
}
WINDOWED_STREAMS: dict[str, WindowedStream] = {
    s.name: s
    for s in (
        WindowedStream(
            "appointments", "/api/appointment", mapping.map_appointment, "start", "end", 100
        ),
        WindowedStream(
            "invoices",
            "/api/sales/invoices",
            mapping.map_invoice,
            "fromDate",
            "toDate",
            50,
            (("clinic_id", ()), ("user_id", ()), ("invoice_status", ()), ("search_key", "")),
        ),
    )
}
ALL_STREAMS: tuple[str, ...] = (*REFERENCE_STREAMS, *WINDOWED_STREAMS)
