"""The extension service: one path for every way into an extension, with no MCP in it.

- `preflight` reads the volume, judges the request, refuses and records a refusal;
- `consent` is the table of who is asked, and how;
- `execute.extend` takes the volume's lock, reads under it (`preflight` again) and runs the attempt
  (`execute.execute`), which alone writes the attempt's intent and outcome (through `attempt.Attempt`);
- `summary.summarize` turns every report into one result.
"""

from .attempt import Attempt, ExtensionReport, Failed
from .conclude import conclude
from .consent import ClientKind, Consent, consent_for
from .errors import Refused
from .execute import Locked, Run, extend
from .live_check import LiveCheck, check_volume
from .preflight import preflight, refuse
from .request import ApprovedSize, ExtensionRequest
from .services import Services
from .summary import Decision, summarize

__all__ = [
    "ApprovedSize",
    "Attempt",
    "ClientKind",
    "Consent",
    "Decision",
    "ExtensionReport",
    "ExtensionRequest",
    "Failed",
    "LiveCheck",
    "Locked",
    "Refused",
    "Run",
    "Services",
    "check_volume",
    "conclude",
    "consent_for",
    "extend",
    "preflight",
    "refuse",
    "summarize",
]
