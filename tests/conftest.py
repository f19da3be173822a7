"""Shared fixtures: a tiny random model built from a config (fast) and the real embedded model (slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PROBESETS = REPO.parent / "shared" / "probesets"

# Tests share one conversion cache of the embedded GGUF; CI sets its own.
os.environ.setdefault("TRUSTWATCH_CACHE", str(REPO / ".cache" / "trustwatch"))

TINY_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A model answers questions about people and places.",
    "Compression keeps perplexity but can move safety.",
    "Every group is measured on its own, not only the mean.",
    "Hello world, this is a tiny tokenizer for tests.",
]
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_model(folder: Path, seed: int = 0, layers: int = 2) -> Path:
    """A randomly initialised Llama (hidden 32) with a byte-level BPE trained on TINY_CORPUS."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<|bos|>", "<|end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TINY_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def embedded_backend():
    """The real embedded model (SmolLM2-135M-Instruct) through TransformersBackend."""
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    return TransformersBackend("embedded:smollm2-135m", batch_size=8)


@pytest.fixture(scope="session")
def shared_probesets() -> Path:
    if not SHARED_PROBESETS.is_dir():
        pytest.skip(f"{SHARED_PROBESETS} is not there")
    return SHARED_PROBESETS
