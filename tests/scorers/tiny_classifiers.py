"""Tiny random BERT sequence classifiers, with a WordPiece tokenizer trained here on made-up sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Made-up sentences: enough words for a small WordPiece vocabulary.
CORPUS = [
    "the weather is calm and the river is quiet today",
    "a friendly neighbour waters the garden every morning",
    "you are a rotten liar and everyone knows it",
    "this silly plan will fail and you will look foolish",
    "numbers and letters mix in short test sentences",
]


def build_tokenizer(folder: Path, special_tokens: bool = True) -> Any:
    """A BERT-style WordPiece tokenizer ([CLS] text [SEP], or no special tokens) trained on CORPUS."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS * 3, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    if special_tokens:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
        )
    # BertTokenizerFast adds [CLS]/[SEP] itself; the generic class keeps a tokenizer without them.
    tokenizer_class = BertTokenizerFast if special_tokens else PreTrainedTokenizerFast
    tokenizer = tokenizer_class(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def bert_config(vocab_size: int, **kwargs: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        **kwargs,
    )


def build_classifier(
    folder: Path, labels: list[str], seed: int = 0, special_tokens: bool = True, **config: Any
) -> Any:
    """A random BertForSequenceClassification with ``labels`` as id2label, saved with its tokenizer."""
    import torch
    from transformers import BertForSequenceClassification

    tokenizer = build_tokenizer(folder, special_tokens)
    torch.manual_seed(seed)
    cfg = bert_config(
        len(tokenizer),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        **config,
    )
    model = BertForSequenceClassification(cfg).eval()
    model.save_pretrained(folder)
    return model, tokenizer
