"""Money is exact: integer paise inside, Decimal rupees at the boundaries."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PAISE_PER_RUPEE = 100


def rupees_to_paise(value: Decimal | str | int | float) -> int:
    """Convert rupees to integer paise, rounding half-up to the paisa.

    Floats are accepted only through their shortest repr (str), so 812.35 becomes 81235 exactly.
    """
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"not a money amount: {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a finite money amount: {value!r}")
    try:
        return int((d * PAISE_PER_RUPEE).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation as exc:  # more digits than the context holds
        raise ValueError(f"not a money amount: {value!r} is too large") from exc


def paise_to_rupees(paise: int) -> Decimal:
    return (Decimal(paise) / PAISE_PER_RUPEE).quantize(Decimal("0.01"))
