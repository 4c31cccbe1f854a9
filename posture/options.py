"""Settings of the evaluation that are not part of the snapshot."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_BREAK_GLASS_PATTERN = r"breakglass|break-glass|break_glass|emergency|bg-admin"


@dataclass(frozen=True)
class PostureOptions:
    # Sign-ins counted by B-8 and D-2: this many hours up to the snapshot's collectedAt.
    signin_window_hours: float = 24
    # MFA-1: share of enabled member users that must be MFA capable to pass, and to only warn.
    mfa_pass_ratio: float = 0.95
    mfa_warn_ratio: float = 0.80
    # Used only when msp.breakGlassUpns is empty: matched (case-insensitively) against UPN and display name.
    break_glass_pattern: str = DEFAULT_BREAK_GLASS_PATTERN
    # The CIPP app's id(s): A-1 accepts a block policy targeting one of them instead of all cloud apps.
    # Beside the snapshot's msp.cippAppIds: from settings (PERIMETER_CIPP_SIGNIN_APP_IDS) or the CLI.
    cipp_app_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.signin_window_hours <= 0:
            raise ValueError("signin_window_hours must be positive")
        if not 0 <= self.mfa_warn_ratio <= self.mfa_pass_ratio <= 1:
            raise ValueError("need 0 <= mfa_warn_ratio <= mfa_pass_ratio <= 1")
        re.compile(self.break_glass_pattern)  # fail here, not in the middle of an evaluation
