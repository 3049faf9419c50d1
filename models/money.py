"""Money is integer minor units with an ISO 4217 currency."""

from __future__ import annotations

# Currencies whose minor unit is not 1/100 (ISO 4217); Stripe uses the same table.
_EXPONENT = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "JPY",
            "KMF",
            "KRW",
            "MGA",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
            "ISK",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "JOD", "KWD", "OMR", "TND"], 3),
}


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency``."""
    return _EXPONENT.get(currency.upper(), 2)


def format_amount(amount: int, currency: str) -> str:
    """``12000, "eur"`` -> ``"120.00 EUR"``."""
    exp = minor_unit_exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    text = f"{whole}.{frac:0{exp}d}" if exp else str(whole)
    return f"{sign}{text} {currency.upper()}"
