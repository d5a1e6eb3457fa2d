"""Did-you-mean: the choice a misspelt word most likely meant."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any, Mapping, Optional


def closest(word: str, choices: Any, meanings: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The choice `word` most likely meant: equal but for case and underscores (PyTorch's
    `LeakyReLU` for `leaky_relu`), else one it means (`meanings`, keyed by the folded word: Keras's
    `Dense` means `linear`), else the closest spelling, else None."""
    choices = list(choices)
    key = word.replace("_", "").lower()
    folded = {c.replace("_", "").lower(): c for c in choices}
    exact = folded.get(key)
    if exact is not None:
        return exact
    meant = (meanings or {}).get(key)
    if meant in choices:
        return meant
    close = get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Any, meanings: Optional[Mapping[str, str]] = None) -> str:
    """` (did you mean 'x'?)` when a likely match exists, else an empty string."""
    match = closest(word, choices, meanings)
    return f" (did you mean '{match}'?)" if match else ""
