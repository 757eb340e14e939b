"""The confirmation card's sentences (MCP Apps)."""

from __future__ import annotations

from typing import Final

from ._approvals import size_moved

CARD_DESCRIPTION: Final = (
    "The extension's confirmation card: the volume, both sizes, the quota, the way back and the team policy, "
    "with Approve, Approve with a snapshot first, and Decline"
)
CARD_TOOL_DESCRIPTION: Final = (
    "Called by the confirmation card's buttons only (it needs the card's single-use token): approve or decline "
    "the extension the card shows."
)


def card_unusable(why: str) -> str:
    return f"The card's buttons cannot be used: {why}. Nothing was sent; plan the extension again for a new card."


def card_changed(label: str, *, shown: int, now: int) -> str:
    return size_moved(label, was=shown, now=now, when="the card showed", what="the card",
                      next_step="plan the extension again")  # fmt: skip


def awaiting_card(label: str, current: int, target: int) -> str:
    return (
        f"Extending {label} from {current} GB to {target} GB waits for the person's choice in the confirmation "
        "card (Approve, Approve with a snapshot first, or Decline): nothing was sent."
    )
