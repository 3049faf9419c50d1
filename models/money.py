"""Money is integer minor units with an ISO 4217 currency."""

from __future__ import annotations


def _codes(listing: str) -> frozenset[str]:
    return frozenset(listing.split())


# ISO 4217's active codes (list one, 2025), without the funds, metals, SDR and the codes
# reserved for tests and "no currency" (XTS, XXX): an order is priced in money.
ISO_4217 = _codes(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP
    SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF
    XCD XCG XOF XPF YER ZAR ZMW ZWG
    """
)
# The currencies Stripe charges cards in (its "supported currencies" page), all in ISO 4217.
STRIPE_CURRENCIES = _codes(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW
    KWD KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD
    SCR SEK SGD SHP SLE SOS SRD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW
    """
)
CARD_CURRENCIES = ISO_4217 & STRIPE_CURRENCIES
"""What an order may be priced in: every flow can charge a card (account orders too)."""

MAX_CHARGE = 99_999_999
"""The most one charge may be, in minor units (Stripe's limit: eight digits)."""

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
