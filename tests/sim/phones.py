"""What both SMS providers refuse per number: one that is not a valid mobile number (a landline, a short code)."""

from __future__ import annotations

import phonenumbers

_MOBILE = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def is_mobile(e164: str) -> bool:
    """`e164` in international form (+86…): valid and a mobile (or a number its plan cannot tell from one)."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in _MOBILE
