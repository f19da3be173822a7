"""Perplexity of a backend on a fixed text: the utility check beside every compressed variant.

Perplexity is ``exp(-(1/N) * sum_i log p(x_i | x_<i))`` over the N tokens of the text
(the utility metric of Hong et al. 2024, "Decoding Compressed Trust", Sec. 3, and of Xu
et al. 2024, "Beyond Perplexity", Sec. 2). Each paragraph of the text is one
``loglikelihood`` request with an empty context (the backend supplies the BOS token), so
any backend computes it the same way.

``EVAL_TEXT`` was written for trustwatch and differs from the calibration text, so a
method that calibrates is not scored on what it saw.
"""

from __future__ import annotations

import math
from typing import Any

from trustwatch.common.requests import LoglikelihoodRequest

EVAL_TEXT = """\
The lighthouse keeper climbed the spiral stairs twice a night, once at dusk to light the lamp and once
before dawn to check the wick. In winter the wind pushed against the glass so hard that the whole tower
seemed to hum, and on clear evenings he could count the lights of fishing boats far out on the water.

A recipe for lentil soup needs little more than patience. Soften an onion, a carrot and a stick of celery
in olive oil, add a cup of rinsed lentils and a litre of stock, and let it simmer for half an hour. A
squeeze of lemon at the end makes the flavour brighter, and the soup tastes even better the next day.

Bees find their way home by the position of the Sun, and they tell one another where flowers are with a
dance. The angle of the dance on the comb shows the direction of the food, and the length of the waggle
shows how far away it is. Other bees follow the dancer, learn the route, and fly out to the same field.

"Do you know when the next bus leaves?" the traveller asked.
"In twenty minutes, from the stop across the bridge," the shopkeeper said. "If you miss it, there is one
more at half past six, but that one does not go all the way to the station."

The town council met on Monday to discuss the new bicycle lanes. Some shop owners worried that fewer cars
would mean fewer customers, while parents said their children would finally be able to ride to school
safely. After two hours the council agreed to try the lanes for one year and to count visitors each month.
"""


def eval_paragraphs(text: str = EVAL_TEXT) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def perplexity(backend: Any, text: str = EVAL_TEXT) -> dict[str, float]:
    """``{"perplexity", "nll", "tokens"}`` of ``backend`` on ``text`` (one request per paragraph)."""
    results = backend.loglikelihood([LoglikelihoodRequest("", p) for p in eval_paragraphs(text)])
    nll = -sum(r.logprob for r in results)
    tokens = sum(r.tokens for r in results)
    return {"perplexity": math.exp(nll / tokens), "nll": nll, "tokens": float(tokens)}
