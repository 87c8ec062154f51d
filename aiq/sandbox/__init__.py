"""A local server that speaks Aesthetic Record's API (docs/ar-api.md) with realistic,
deterministic data, a clock and faults. See docs/sandbox.md.

    from aiq.sandbox import Sandbox, SandboxConfig
    from aiq.sandbox.server import serve_in_thread

    sb = Sandbox(SandboxConfig(seed=7, clinics=2, years=1))
    with serve_in_thread(sb) as running:
        ...  # point an AR client at running.base_url; compare with sb.truth()

Importing this package imports neither Starlette nor uvicorn: the server modules do.
"""

from aiq.sandbox.config import AccountSpec, SandboxConfig
from aiq.sandbox.core import Sandbox, Stats
from aiq.sandbox.faults import FAULT_KINDS, Faults
from aiq.sandbox.phi import PHI_MARKERS, phi_values

__all__ = [
    "FAULT_KINDS",
    "PHI_MARKERS",
    "AccountSpec",
    "Faults",
    "Sandbox",
    "SandboxConfig",
    "Stats",
    "phi_values",
]
