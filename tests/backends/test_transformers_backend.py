"""TransformersBackend on a tiny random Llama: batching, padding, seeds, greedy parity (fast)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.backends.prefix_packing import pack
from trustwatch.server.backends.transformers_backend import TransformersBackend, _token_chooser, nucleus

from .direct import direct_logprob

PAIRS = [
    ("The quick brown fox", " jumps over the lazy dog."),
    ("", "Hello world"),
    ("A model answers questions about people and places,", " not only the mean."),
    ("Every group", " is measured."),
    ("Compression keeps perplexity but", " can move safety."),
]
# Context ends in a space: the space must move onto the continuation's first token.
SPACED = LoglikelihoodRequest("The quick brown ", "fox")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_model_dir), batch_size=4)


def test_loglikelihood_matches_direct_computation(tiny: TransformersBackend, tiny_model_dir: Path) -> None:
    results = tiny.loglikelihood([LoglikelihoodRequest(c, x) for c, x in PAIRS])
    for (context, continuation), result in zip(PAIRS, results, strict=True):
        logprob, tokens, greedy = direct_logprob(tiny_model_dir, context, continuation)
        assert result.tokens == tokens
        assert result.logprob == pytest.approx(logprob, abs=1e-4)
        assert result.is_greedy == greedy
        assert result.logprob < 0


def test_loglikelihood_does_not_depend_on_batch_size(tiny: TransformersBackend) -> None:
    requests = [LoglikelihoodRequest(c, x) for c, x in PAIRS] * 7 + [SPACED]
    answers = {}
    for size in (1, 7, 32):
        tiny.batch_size = size
        answers[size] = tiny.loglikelihood(requests)
    tiny.batch_size = 4
    for size in (7, 32):
        for a, b in zip(answers[1], answers[size], strict=True):
            assert b.logprob == pytest.approx(a.logprob, abs=1e-4)
            assert (b.tokens, b.is_greedy) == (a.tokens, a.is_greedy)


# One context with several answers (BBQ) and two sentences with a common start (CrowS-Pairs):
# each group is packed into one row as a token trie with tree attention.
SHARED = [
    ("Two people met at the station. Who was late?", " The first person"),
    ("Two people met at the station. Who was late?", " The second person"),
    ("Two people met at the station. Who was late?", " Unknown"),
    ("", "The nurse said that she was tired."),
    ("", "The nurse said that he was tired."),
    ("Every group", " is measured."),
]


def test_requests_sharing_a_prefix_score_as_if_alone(tiny: TransformersBackend, tiny_model_dir: Path) -> None:
    requests = [LoglikelihoodRequest(c, x) for c, x in SHARED]
    rows = pack([tiny._encode_pair(i, r).tokens for i, r in enumerate(requests)], max_nodes=tiny.pack_nodes)
    assert [len(row.members) for row in rows] == [3, 2, 1]
    for size in (1, 2, 8):
        tiny.batch_size = size
        results = tiny.loglikelihood(requests)
        for (context, continuation), result in zip(SHARED, results, strict=True):
            logprob, tokens, greedy = direct_logprob(tiny_model_dir, context, continuation)
            assert (result.tokens, result.is_greedy) == (tokens, greedy)
            assert result.logprob == pytest.approx(logprob, abs=1e-4)
    tiny.batch_size = 4


def test_items_sharing_a_template_pack_into_rows_of_bounded_length(
    tiny: TransformersBackend, tiny_model_dir: Path
) -> None:
    # BBQ's templated contexts share long prefixes across items: unbounded, every item of a
    # template joined one trie row, whose dense tree mask grows with the square of its length.
    template = "At the community meeting last week, a retired teacher and a young engineer talked about "
    topics = ["housing", "schools", "parking", "taxes", "parks", "buses", "water", "noise", "trees", "crime"] * 4
    requests = [LoglikelihoodRequest(f"{template}{t} {i}. Who was angry?", f" {a}")
                for i, t in enumerate(topics) for a in ("The teacher", "The engineer", "Unknown")]
    encoded = [tiny._encode_pair(i, r).tokens for i, r in enumerate(requests)]
    assert sum(map(len, encoded)) > 2 * tiny.pack_nodes, "the requests must need more than one row"
    rows = pack(encoded, max_nodes=tiny.pack_nodes)
    assert len(rows) > 1 and all(len(row.tokens) <= tiny.pack_nodes for row in rows)
    assert any(len(row.members) > 3 for row in rows), "items of one template still share a row"
    results = tiny.loglikelihood(requests)
    for request, result in zip(requests[:6] + requests[-3:], results[:6] + results[-3:], strict=True):
        logprob, tokens, greedy = direct_logprob(tiny_model_dir, request.context, request.continuation)
        assert (result.tokens, result.is_greedy) == (tokens, greedy)
        assert result.logprob == pytest.approx(logprob, abs=1e-4)


def test_trailing_context_space_scores_like_a_leading_continuation_space(tiny: TransformersBackend) -> None:
    [moved] = tiny.loglikelihood([SPACED])
    [explicit] = tiny.loglikelihood([LoglikelihoodRequest("The quick brown", " fox")])
    assert moved == explicit


def test_greedy_continuation_is_flagged(tiny: TransformersBackend) -> None:
    [greedy] = tiny.generate([GenerateRequest("Hello", max_new_tokens=4, chat=False)])
    assert greedy.finish_reason == "length" or greedy.text
    ids = tiny.encode("Hello")
    generated = tiny.model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=4)[0, len(ids) :].tolist()
    text = tiny.tokenizer.decode(generated)
    [scored] = tiny.loglikelihood([LoglikelihoodRequest("Hello", text)])
    if tiny.encode("Hello" + text)[len(ids) :] == generated:
        assert scored.is_greedy


def test_greedy_generation_equals_transformers_generate(tiny: TransformersBackend) -> None:
    prompts = ["Hello", "The quick brown fox", "Every group is"]
    ours = tiny.generate([GenerateRequest(p, max_new_tokens=12, chat=False) for p in prompts])
    for prompt, result in zip(prompts, ours, strict=True):
        ids = torch.tensor([tiny.encode(prompt)])
        out = tiny.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12)
        new = out[0, ids.shape[1] :].tolist()
        if new and new[-1] == tiny.tokenizer.eos_token_id:
            new = new[:-1]
        assert result.text == tiny.tokenizer.decode(new, skip_special_tokens=True)


def test_seeded_sampling_reproduces_whatever_shares_the_batch(tiny: TransformersBackend) -> None:
    request = GenerateRequest("The quick", max_new_tokens=16, temperature=1.0, top_p=0.95, seed=11, chat=False)
    [alone] = tiny.generate([request])
    for size in (1, 4, 32):  # rows decoded together
        tiny.generate_batch_size = size
        crowd = tiny.generate(
            [GenerateRequest("Hi", max_new_tokens=5, temperature=1.0, seed=s, chat=False) for s in range(5)] + [request]
        )
        assert crowd[-1] == alone
    tiny.generate_batch_size = 32
    [again] = tiny.generate([request])
    assert again == alone
    others = tiny.generate([GenerateRequest("The quick", 16, 1.0, 0.95, seed, chat=False) for seed in range(12, 20)])
    assert any(o.text != alone.text for o in others), "different seeds should not all give the same text"


def test_stop_strings_cut_the_text(tiny: TransformersBackend) -> None:
    request = GenerateRequest("Hello", max_new_tokens=20, temperature=1.0, seed=3, chat=False)
    [free] = tiny.generate([request])
    assert len(free.text) > 2
    stop = free.text[1:3]
    [cut] = tiny.generate([GenerateRequest("Hello", 20, 1.0, 1.0, 3, (stop,), chat=False)])
    assert cut.finish_reason == "stop"
    assert stop not in cut.text
    assert free.text.startswith(cut.text)
    assert cut.tokens <= free.tokens


def test_chat_template_wraps_prompts_only_when_asked(tiny_model_dir: Path) -> None:
    backend = TransformersBackend(str(tiny_model_dir))
    assert backend.chat_template is True  # the tiny tokenizer has one
    assert backend.render_prompt(GenerateRequest("x")) == "<|user|>x<|end|><|assistant|>"
    assert backend.render_prompt(GenerateRequest("x", chat=False)) == "x"
    plain = TransformersBackend(str(tiny_model_dir), chat_template=False)
    assert plain.render_prompt(GenerateRequest("x")) == "x"
    assert plain.render_prompt(GenerateRequest("x", chat=True)).startswith("<|user|>")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"temperature": -1.0}, "temperature must be 0 (greedy) or between 0.001 and 100, got -1.0"),
        ({"temperature": float("nan")}, "temperature must be 0 (greedy) or between 0.001 and 100, got nan"),
        ({"temperature": 1e-300}, "temperature must be 0 (greedy) or between 0.001 and 100, got 1e-300"),
        ({"temperature": float("inf")}, "temperature must be 0 (greedy) or between 0.001 and 100, got inf"),
        ({"top_p": 0.0}, "top_p must be between 1e-06 and 1, got 0.0"),
        ({"top_p": 1e-300}, "top_p must be between 1e-06 and 1, got 1e-300"),
        ({"seed": -1}, "seed must be an integer between 0 and 2**64 - 1, got -1"),
        ({"stop": ("",)}, "stop[0] is empty"),
    ],
)
def test_bad_generate_requests_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        GenerateRequest("x", **kwargs)


@pytest.mark.parametrize("option", ["batch_size", "generate_batch_size"])
def test_a_batch_size_below_one_is_refused_before_any_load(option: str, tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match=f"^{option} must be >= 1, got 0$"):
        TransformersBackend(str(tiny_model_dir), **{option: 0})


def test_empty_continuation_is_refused() -> None:
    with pytest.raises(ValueError, match="continuation is empty"):
        LoglikelihoodRequest("context", "")


def test_prompt_too_long_for_new_tokens_is_refused(tiny: TransformersBackend) -> None:
    with pytest.raises(ValueError, match="leaves no room"):
        tiny.generate([GenerateRequest("x", max_new_tokens=tiny.max_length)])


@pytest.mark.parametrize("scale", [0.05, 1.0, 8.0])  # flat (full sort), moderate, peaked (top candidates)
@pytest.mark.parametrize("top_p", [0.1, 0.9, 0.999])
def test_nucleus_is_the_smallest_set_reaching_top_p(scale: float, top_p: float) -> None:
    probs = torch.softmax(torch.randn(49152, generator=torch.Generator().manual_seed(7)) * scale, dim=-1)
    tokens, kept = nucleus(probs, top_p)
    ranked, order = probs.sort(descending=True)
    size = int((ranked.cumsum(-1) < top_p).sum()) + 1  # the reference: smallest prefix with mass >= top_p
    assert tokens.tolist() == order[:size].tolist()
    assert torch.equal(kept, ranked[:size])
    assert float(kept.sum()) >= top_p - 1e-6 and float(kept[:-1].sum()) < top_p


def test_sampling_draws_from_the_nucleus_in_proportion() -> None:
    logits = torch.log(torch.tensor([0.5, 0.25, 0.15, 0.06, 0.04]))
    counts = torch.zeros(5)
    draws = 6000
    for seed in range(draws):
        chooser = _token_chooser(GenerateRequest("x", temperature=1.0, top_p=0.85, seed=seed))
        counts[chooser(logits)] += 1
    # nucleus at 0.85: the first three tokens (0.5 + 0.25 < 0.85 <= 0.9), renormalised
    assert counts[3:].sum() == 0
    expected = torch.tensor([0.5, 0.25, 0.15]) / 0.9
    assert torch.allclose(counts[:3] / draws, expected, atol=0.02)


def test_one_seed_gives_two_nearly_equal_models_the_same_tokens() -> None:
    # Coupled sampling: the random numbers belong to token ids, so a small change of the
    # distribution (a near-lossless variant) rarely changes the token drawn.
    generator = torch.Generator().manual_seed(0)
    same = steps = 0
    for seed in range(200):
        a = _token_chooser(GenerateRequest("x", temperature=1.0, top_p=0.9, seed=seed))
        b = _token_chooser(GenerateRequest("x", temperature=1.0, top_p=0.9, seed=seed))
        for _ in range(5):
            logits = torch.randn(4000, generator=generator) * 3
            nearby = logits + torch.randn(4000, generator=generator) * 0.01
            same += a(logits) == b(nearby)
            steps += 1
    assert same / steps > 0.9
