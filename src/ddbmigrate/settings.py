"""Optional table settings: which to copy (``--settings``), and what became of each.

Keys, attribute definitions, indexes and billing are the table itself and are never
optional. The settings below are best effort: an endpoint that lacks the call (dynalite,
emulators, DynamoDB-compatible stores) or a role denied it leaves the setting out, with one
warning line and an entry in the report, unless ``--strict-settings`` makes it an error
(docs/adr/0021-best-effort-settings.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ddbmigrate.errors import AccessDeniedError, ConfigError, SettingsNotCopiedError
from ddbmigrate.ports import Observer

LABELS: dict[str, str] = {
    "ttl": "TTL",
    "pitr": "point-in-time recovery",
    "tags": "tags",
    "stream": "stream",
    "deletion-protection": "deletion protection",
    "table-class": "table class",
    "sse": "SSE KMS",
}
"""Every optional setting, by the name ``--settings`` takes, with its label for messages."""
ALL = frozenset(LABELS)
SETTINGS_FLAG = "--settings"
STRICT_FLAG = "--strict-settings"


def parse_settings(text: str) -> frozenset[str]:
    """``all``, ``keys-only`` or a comma-separated list of setting names."""
    value = text.strip().lower()
    if value == "all":
        return ALL
    if value in ("keys-only", "none"):
        return frozenset()
    names = {part.strip() for part in value.split(",") if part.strip()}
    if unknown := sorted(names - ALL):
        raise ConfigError(
            f"{SETTINGS_FLAG} {text!r}: unknown setting(s) {', '.join(unknown)}",
            hint=f"use all, keys-only, or a comma-separated list of {', '.join(sorted(ALL))}",
        )
    if not names:
        raise ConfigError(f"{SETTINGS_FLAG} is empty", hint="use all, keys-only or a list")
    return frozenset(names)


def settings_text(wanted: frozenset[str]) -> str:
    """The ``--settings`` value that chooses ``wanted`` (recorded for a resume)."""
    if wanted == ALL:
        return "all"
    return ",".join(sorted(wanted)) or "keys-only"


def reason(side: str, kind: str, operation: str) -> str:
    """Why a setting was not copied, e.g. 'the source endpoint does not support X'."""
    if kind == "denied":
        return f"the {side} role is denied {operation}"
    return f"the {side} endpoint does not support {operation}"


def kind_of(exc: Exception) -> str:
    return "denied" if isinstance(exc, AccessDeniedError) else "unsupported"


@dataclass(frozen=True, slots=True)
class SettingOutcome:
    """One optional setting of the source: copied, or not and why."""

    setting: str
    label: str
    copied: bool
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "setting": self.setting,
            "label": self.label,
            "copied": self.copied,
            "reason": self.reason,
        }


@dataclass(slots=True)
class SettingsLog:
    """What became of each optional setting of one table; warns as it goes."""

    observer: Observer
    strict: bool = False
    outcomes: list[SettingOutcome] = field(default_factory=list)

    def not_copied(self, setting: str, label: str, why: str) -> None:
        """One warning line; with ``strict``, the error that stops the run."""
        if any(o.setting == setting and not o.copied for o in self.outcomes):
            return
        self.outcomes = [o for o in self.outcomes if o.setting != setting]
        self.outcomes.append(SettingOutcome(setting, label, False, why))
        if self.strict:
            raise SettingsNotCopiedError(
                f"{label} cannot be copied: {why}",
                hint=f"run without {STRICT_FLAG} to copy the table without it, or leave it "
                f"out with {SETTINGS_FLAG} (e.g. {SETTINGS_FLAG} keys-only)",
            )
        self.observer.message(f"not copied: {label} — {why}")

    def copied(self, setting: str, label: str) -> None:
        if not any(o.setting == setting for o in self.outcomes):
            self.outcomes.append(SettingOutcome(setting, label, True))

    def to_list(self) -> list[dict[str, object]]:
        return [o.to_dict() for o in self.outcomes]
