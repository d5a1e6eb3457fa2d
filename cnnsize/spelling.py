"""Did-you-mean: the choice a misspelt word most likely meant."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any, Optional


def closest(word: str, choices: Any) -> Optional[str]:
    """The choice `word` most likely meant: equal but for case and underscores (PyTorch's
    `LeakyReLU` for `leaky_relu`), else the closest spelling, else None."""
    choices = list(choices)
    folded = {c.replace("_", "").lower(): c for c in choices}
    exact = folded.get(word.replace("_", "").lower())
    if exact is not None:
        return exact
    close = get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Any) -> str:
    """` (did you mean 'x'?)` when a likely match exists, else an empty string."""
    match = closest(word, choices)
    return f" (did you mean '{match}'?)" if match else ""
