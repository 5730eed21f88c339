"""Phone numbers in E.164, and masks for phone numbers and e-mail addresses in logs and records.

Reps type numbers every way ("138 0013 8000", "+86-138-0013-8000", "008613800138000"); SMS providers want one
form, so every number is parsed with `phonenumbers` (Google's libphonenumber metadata) and stored as E.164.
"""

from __future__ import annotations

import phonenumbers

from bot.errors import LeadbotError

DEFAULT_REGION = "CN"


class InvalidPhone(LeadbotError):
    """A phone number that cannot be parsed or is not a valid number for its region."""


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """`raw` as E.164 (`+8613800138000`); numbers without a country code are read in `region`."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {mask_phone(raw)}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"not a valid phone number: {mask_phone(raw)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_mobile(raw: str, region: str = DEFAULT_REGION) -> str:
    """`normalize_phone`, refusing numbers that cannot take an SMS (a landline such as 021-62345678)."""
    e164 = normalize_phone(raw, region)
    if not is_mobile(e164):
        raise InvalidPhone(f"not a mobile number (SMS cannot reach it): {mask_phone(e164)}")
    return e164


def is_mobile(e164: str) -> bool:
    """True for numbers that can take an SMS (mobile, or fixed-or-mobile where the plan does not say)."""
    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def national_digits(e164: str) -> tuple[int, str]:
    """(country code, national significant number) of an E.164 number."""
    number = phonenumbers.parse(e164)
    return number.country_code, phonenumbers.national_significant_number(number)


def mask_phone(value: str | None) -> str:
    """`+8613812345678` -> `+86138****5678`, `+85291234567` -> `+852****4567`; else only the last 4 digits."""
    if not value:
        return ""
    try:
        country, national = national_digits(value) if value.startswith("+") else (None, "")
    except phonenumbers.NumberParseException:
        country, national = None, ""
    if country is not None and len(national) >= 11:
        return f"+{country}{national[:3]}****{national[-4:]}"
    if country is not None and len(national) > 4:
        # short national numbers (HK, SG: 8 digits) would show nearly every digit with a 3+4 mask
        return f"+{country}****{national[-4:]}"
    digits = "".join(c for c in value if c.isdigit())
    return "****" + digits[-4:] if len(digits) > 4 else "****"


def mask_email(value: str | None) -> str:
    """`zhangsan@example.com` -> `z***@example.com`; the domain stays readable for support."""
    if not value:
        return ""
    local, at, domain = value.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
