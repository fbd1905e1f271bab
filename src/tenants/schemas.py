"""What a tenant may change about itself (`PATCH /v1/tenant`): typed settings,
unknown keys refused — a misspelt retention setting must not pass silently.
Absent = unchanged."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from optinbase.normalise import SINGLE_LINE

Channel = Literal["email", "sms", "phone", "postal", "social_ads", "push"]
Hours = Annotated[int, Meta(ge=1, le=24 * 90)]
Line = Annotated[str, Meta(max_length=500, pattern=SINGLE_LINE)]
# Branding values reach pages (a style attribute, an <img src>) and e-mail
# headers: only shapes that cannot carry markup, CSS or a second header;
# "" clears a value.
Colour = Annotated[str, Meta(pattern=r"\A(#[0-9A-Fa-f]{6})?\Z")]
WebUrl = Annotated[str, Meta(max_length=2000, pattern=r"\A(https?://[^\s\x00-\x1f\x7f\"'<>\\]+)?\Z")]
Mailbox = Annotated[str, Meta(max_length=254, pattern=r"\A([^\s@<>,;\"\\]+@[^\s@<>,;\"\\]+\.[^\s@<>,;\"\\]+)?\Z")]


class _Patch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


class SettingsPatch(_Patch):
    double_opt_in_channels: Union[list[Channel], UnsetType] = UNSET
    confirmation_token_hours: Union[Hours, UnsetType] = UNSET
    request_verification_hours: Union[Hours, UnsetType] = UNSET
    # Floors keep a slip of the finger from erasing the base next week.
    retention_months: Union[Annotated[int, Meta(ge=6, le=120)], UnsetType] = UNSET
    repermission_days: Union[Annotated[int, Meta(ge=7, le=365)], UnsetType] = UNSET
    package_days: Union[Annotated[int, Meta(ge=1, le=365)], UnsetType] = UNSET
    # Days before a consent expires that the person is asked to renew it; 0: never.
    expiry_reminder_days: Union[Annotated[int, Meta(ge=0, le=365)], UnsetType] = UNSET
    default_locale: Union[Literal["fr", "en"], UnsetType] = UNSET
    # IANA name (Europe/Paris); dates shown to people are in it. Checked
    # against the zone database in tenants.service (optinbase.i18n.is_time_zone).
    time_zone: Union[Annotated[str, Meta(min_length=1, max_length=64)], UnsetType] = UNSET
    sender: Union[Line, UnsetType] = UNSET
    receipt_email: Union[bool, UnsetType] = UNSET
    address: Union[Annotated[str, Meta(max_length=500)], UnsetType] = UNSET  # may span lines
    phone: Union[Line, UnsetType] = UNSET
    website: Union[WebUrl, UnsetType] = UNSET
    policy_url: Union[WebUrl, UnsetType] = UNSET
    # Branding of the subscriber pages and e-mails (README "Subscriber pages and e-mail").
    logo_url: Union[WebUrl, UnsetType] = UNSET
    primary_color: Union[Colour, UnsetType] = UNSET
    accent_color: Union[Colour, UnsetType] = UNSET
    sender_name: Union[Annotated[str, Meta(max_length=100, pattern=SINGLE_LINE)],
                       UnsetType] = UNSET
    reply_to: Union[Mailbox, UnsetType] = UNSET
    footer_text: Union[Annotated[str, Meta(max_length=1000)], UnsetType] = UNSET
    # GDPR Art. 13(1)(b): who to write to about one's data, beside `dpo_email`.
    dpo_name: Union[Annotated[str, Meta(max_length=200, pattern=SINGLE_LINE)],
                    UnsetType] = UNSET
    dpo_address: Union[Annotated[str, Meta(max_length=500)], UnsetType] = UNSET
    # E-mail providers' soft bounces (messaging.inbound): this many within
    # soft_bounce_days put the address on the suppression list (reason bounce).
    soft_bounce_limit: Union[Annotated[int, Meta(ge=1, le=100)], UnsetType] = UNSET
    soft_bounce_days: Union[Annotated[int, Meta(ge=1, le=365)], UnsetType] = UNSET
    # Where the tenant's data is stored, for ISO/IEC TS 27560 records (e.g. "FR", "EU").
    storage_location: Union[Annotated[str, Meta(min_length=1, max_length=100,
                                                pattern=SINGLE_LINE)], UnsetType] = UNSET


class TenantPatch(_Patch):
    # In every e-mail's Subject: a line break could never be sent.
    name: Union[Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)],
                UnsetType] = UNSET
    legal_name: Union[Annotated[str, Meta(max_length=200, pattern=SINGLE_LINE)], UnsetType] = UNSET
    dpo_email: Union[Annotated[str, Meta(max_length=254)], UnsetType] = UNSET
    country: Union[Annotated[str, Meta(pattern=r"^[A-Z]{2}$")], UnsetType] = UNSET
    settings: Union[SettingsPatch, UnsetType] = UNSET


def changes(patch: _Patch) -> dict:
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not UNSET}
