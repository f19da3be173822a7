"""Calibration text for the methods that need activations (Wanda, GPTQ, SparseGPT).

The built-in default was written for trustwatch: a few paragraphs of varied plain English
(everyday narrative, instructions, science, conversation, numbers), no public dataset
text. A user may name a UTF-8 text file instead. Either way the text travels with its
SHA-256, which the manifest records and the variant cache key includes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

BUILTIN_SOURCE = "builtin:trustwatch-default-v1"

DEFAULT_CALIBRATION_TEXT = """\
On Tuesday morning the market square filled slowly. A baker set out loaves of rye and white bread, a
florist arranged buckets of tulips by colour, and an old man with a folding table sold keys he cut while
you waited. Children ran between the stalls until their parents called them back. By ten o'clock the
rain had stopped, and the smell of coffee drifted from the cafe on the corner.

To repot a houseplant, choose a pot one size larger than the old one, with a hole in the bottom. Water
the plant an hour before you start, so the roots slide out easily. Loosen the outer roots with your
fingers, set the plant at the same depth it grew before, and fill the gaps with fresh soil. Press gently,
water again, and keep it out of direct sun for a week while it settles.

Light from the Sun takes a little over eight minutes to reach the Earth. It travels about three hundred
thousand kilometres every second, yet the nearest star beyond the Sun is so far away that its light
needs more than four years to arrive. Astronomers measure such distances in light years, the distance
light covers in one year, which is close to ten trillion kilometres.

"Are you coming to the meeting tonight?" asked Maria.
"I wanted to, but my train was cancelled," said Daniel. "Could you send me the notes afterwards?"
"Of course. We are mostly discussing the budget for the new library and who will run the reading club."
"Then please tell them I am happy to help on Saturdays."

The committee reviewed three proposals. The first would cost 12,500 dollars and finish in six weeks; the
second would cost 9,800 dollars but take four months; the third was cheaper still, though it left out the
ramp at the side entrance. After a long discussion the members agreed that access for everyone mattered
more than speed, and they chose the second plan with the ramp added back in.

Good writing is clear before it is clever. Say what you mean in the plainest words that carry it, put
the main point first, and cut any sentence the reader would not miss. Read the draft aloud: where you
stumble, the reader will too. Then rest it for a day and read it again with fresh eyes.

Rivers shape the land they cross. Over thousands of years water carries sand and stones downstream,
cutting valleys in hills and building wide plains where it slows near the sea. Farmers have long settled
on those plains because the soil is rich, even though floods return every few years. Modern towns build
levees and reservoirs, but the river still has the last word after a very wet spring.

She opened the letter at the kitchen table. It was from her grandmother, written in careful blue ink,
and it described the village where the family had lived before the war: the well in the middle of the
square, the school with one classroom, the orchard of plums behind the church. At the end it said only,
"Keep this, and tell your children."
"""


@dataclass(frozen=True)
class Calibration:
    text: str
    sha256: str
    source: str
    """``builtin:...`` or the absolute path of the user's file."""


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The built-in text (``path`` None) or a user's UTF-8 text file, with its SHA-256."""
    if path is None:
        text, source = DEFAULT_CALIBRATION_TEXT, BUILTIN_SOURCE
    else:
        file = Path(path).expanduser().resolve()
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"calibration file {file}: no such file") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"calibration file {file}: not UTF-8 text ({error})") from None
        if not text.strip():
            raise ValueError(f"calibration file {file}: it is empty")
        source = str(file)
    return Calibration(text, hashlib.sha256(text.encode("utf-8")).hexdigest(), source)


def calibration_batches(
    tokenizer: Any, calibration: Calibration, seq_len: int, samples: int
) -> list[torch.Tensor]:
    """Consecutive windows of at most ``seq_len`` tokens (``[1, n]`` each), at most ``samples`` of them.

    The text is tokenized once and cut into windows; a last window shorter than a quarter
    of ``seq_len`` is dropped unless it is the only one.
    """
    ids = list(tokenizer(calibration.text, add_special_tokens=False).input_ids)
    if not ids:
        raise ValueError(f"calibration text {calibration.source}: it has no tokens")
    windows = [ids[i : i + seq_len] for i in range(0, len(ids), seq_len)]
    if len(windows) > 1 and len(windows[-1]) < seq_len // 4:
        windows.pop()
    return [torch.tensor([w], dtype=torch.long) for w in windows[:samples]]
