"""OpenAI-compatible backend: probe a model where it is already served, over ``/v1/completions``.

This is how trustwatch watches models it does not host: a vLLM (or SGLang, TGI, llama.cpp)
server, such as the stable and the canary Service of a rollout. It holds no weights.
Config: ``backend: openai``, ``options: {base_url: http://HOST:PORT/v1, model: SERVED_NAME}``
(optional ``api_key_file``, ``timeout_s``, ``max_concurrency``, ``retries``, ``batch_size``);
the variant's ``model:``, where given, names a local tokenizer folder, else the server's
``/tokenize`` (vLLM's) tokenizes. Either way the server is sent token ids, the same sequences
the local backends score (``tokenization.py``), wrapped in the chat template where they wrap it.

- At start: ``/v1/models`` must list ``model`` (another served name is refused, by name), and its
  entry says which model the server serves under that name (``served_model``: the entry's
  ``root``, ``parent``, ``max_model_len``, ``meta`` where listed, :data:`SERVED_MODEL_FIELDS`);
  that served model is part of the variant's producer (``server/producers.py``), and
  ``trustwatch serve`` reads it again as it replays (:meth:`OpenAIBackend.read_served_model`), so
  that a model swapped in behind the same URL and name starts afresh; a
  local tokenizer must tokenize as the server does (``/tokenize``, else the echoed tokens);
  the log-probability mode is found: ``prompt_logprobs: 1`` (vLLM: for every prompt position
  after the first, ``{token_id: {logprob, rank}}`` holding the prompt's own token), else the
  legacy ``echo: true, logprobs: 1``; a server with neither has its likelihood requests refused
  with the reason (``unsupported``), and says so in the log at start.
- ``loglikelihood``: one ``/v1/completions`` call per ``batch_size`` prompts; the sum over the
  continuation's tokens is its log-probability, greedy when every one is top-ranked.
- ``generate``: one call per request (each keeps its ``seed``), ``max_concurrency`` at a time;
  the text is cut at stop strings as the other backends cut it.
- Transport errors, 429 and 5xx are retried ``retries`` times with exponential backoff
  (tenacity); other answers, malformed JSON and non-finite numbers fail the batch with the
  URL and the server's message (replay records them per item at stage ``backend``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from trustwatch.common.errors import UnavailableError
from trustwatch.common.model_specs import resolve_model
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    cut_at_stop,
)
from trustwatch.server.backends.tokenization import pair_tokens, render_prompt

log = logging.getLogger(__name__)
_CHECK_TEXT = "The quick brown fox jumps over the lazy dog."

SERVED_MODEL_FIELDS = ("root", "parent", "max_model_len", "meta")
"""The fields of a ``/v1/models`` entry that say which model a server serves under a name, where it
lists them: ``root`` (vLLM, SGLang: the model path or id it loaded), ``parent`` (vLLM: a LoRA
adapter's base), ``max_model_len`` (vLLM, SGLang), ``meta`` (llama.cpp: parameters, size, vocabulary).
``created`` is left out: vLLM stamps it with the time of the request; so is ``permission`` (a fresh
id per request) and ``owned_by`` (the server's name, not the model's)."""


class ServerError(UnavailableError):
    """A model server answered with an error, or could not be reached after the retries."""


def _retryable(error: BaseException) -> bool:
    if isinstance(error, httpx.TransportError):
        return True
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code == 429 or error.response.status_code >= 500
    return False


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        tokenizer: str | None = None,
        *,
        base_url: str,
        model: str,
        api_key_file: str | None = None,
        timeout_s: float = 120.0,
        max_concurrency: int = 8,
        retries: int = 3,
        batch_size: int = 32,
        chat_template: bool | None = None,
        progress: bool = False,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ValueError(
                f"openai backend: unknown option(s) {', '.join(sorted(unknown))} (known: base_url, model, "
                "api_key_file, timeout_s, max_concurrency, retries, batch_size, chat_template)"
            )
        for option, value, least in (("max_concurrency", max_concurrency, 1), ("batch_size", batch_size, 1),
                                     ("retries", retries, 0)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"openai backend: {option} must be an integer >= {least}, got {value!r}")
        if not isinstance(timeout_s, int | float) or not timeout_s > 0:
            raise ValueError(f"openai backend: timeout_s must be a number > 0, got {timeout_s!r}")
        self.model = model
        self.api_url = base_url.rstrip("/") if base_url.rstrip("/").endswith("/v1") else base_url.rstrip("/") + "/v1"
        self.root_url = self.api_url.removesuffix("/v1")
        self.batch_size = batch_size
        self.retries = retries
        headers = {}
        if api_key_file is not None:
            key = Path(api_key_file).expanduser().read_text(encoding="utf-8").strip()
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(headers=headers, timeout=timeout_s)
        self.pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="openai-backend")
        self.tokenizer: Any = None
        self.unsupported: dict[str, str] = {}
        """Request kinds this server cannot answer, with the reason (found at start)."""
        self.served_model: dict[str, Any] = {}
        """What the server says it serves under ``model`` (:data:`SERVED_MODEL_FIELDS`), read at start;
        ``trustwatch serve`` reads it again (:meth:`read_served_model`) as it replays."""
        try:
            self._check_model()
            self._set_tokenizer(tokenizer, chat_template, progress)
            self._check_tokens()
            self.logprobs_mode = self._find_logprobs_mode()
        except BaseException:
            self.close()
            raise

    # -- set-up ----------------------------------------------------------------------------------

    def _check_model(self) -> None:
        self.served_model = self.read_served_model(retries=self.retries)

    def read_served_model(self, retries: int = 0) -> dict[str, Any]:
        """The served model's identity as ``/v1/models`` lists it now: the fields of
        :data:`SERVED_MODEL_FIELDS` its entry holds (an empty mapping for a server that lists none).
        :class:`ServerError` when the server cannot be reached (after ``retries``), ValueError when
        it no longer lists ``model``."""
        listed = self._call("GET", f"{self.api_url}/models", retries=retries).get("data", [])
        entries = [m for m in listed if isinstance(m, dict)]
        entry = next((m for m in entries if m.get("id") == self.model), None)
        if entry is None:
            raise ValueError(
                f"openai backend: {self.api_url} serves {', '.join(str(m.get('id')) for m in entries) or 'no model'}, "
                f"not {self.model!r} (set options.model to the served name)"
            )
        return {key: entry[key] for key in SERVED_MODEL_FIELDS if entry.get(key) is not None}

    def _set_tokenizer(self, spec: str | None, chat_template: bool | None, progress: bool) -> None:
        """A local tokenizer folder when the variant's ``model`` names one, else the server's ``/tokenize``."""
        if spec is None:
            self.tokenizer_spec = f"{self.root_url}/tokenize"
            try:
                self._server_tokenize({"prompt": "a"})
            except ServerError as error:
                raise ValueError(
                    f"openai backend: {self.root_url} has no /tokenize ({error}); set the variant's 'model' "
                    "to a local folder holding the served model's tokenizer"
                ) from error
            self.chat_template = chat_template if chat_template is not None else True
            self.prefix_id = None
            return
        from transformers import AutoTokenizer

        try:
            resolved = resolve_model(spec, progress=progress)
        except Exception as error:
            raise ValueError(
                f"openai backend: the tokenizer {spec!r} is not a local model folder or spec ({error})"
            ) from error
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
        self.tokenizer_spec = resolved.spec
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.chat_template = has_template if chat_template is None else chat_template
        if self.chat_template and not has_template:
            raise ValueError(f"chat_template=True, but the tokenizer of {spec!r} has none")
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        self.prefix_id = next(i for i in (bos, eos, 0) if i is not None)

    def _server_tokenize(self, body: dict[str, Any]) -> list[int]:
        answer = self._call("POST", f"{self.root_url}/tokenize", {"model": self.model, **body})
        return [int(t) for t in answer["tokens"]]

    def _check_tokens(self) -> None:
        """The server must read our token ids as our tokenizer writes them."""
        if self.tokenizer is None:
            return
        ids = self.encode(_CHECK_TEXT)
        try:
            theirs = self._server_tokenize({"prompt": _CHECK_TEXT, "add_special_tokens": False})
        except ServerError:  # no /tokenize: compare the tokens the server echoes
            answer = self._completions({"prompt": [ids], "max_tokens": 1, "echo": True, "logprobs": 1})
            echoed = (answer["choices"][0].get("logprobs") or {}).get("tokens") or []
            ours = [self.tokenizer.decode([i]) for i in ids]
            same = not echoed or echoed[: len(ids)] in (ours, self.tokenizer.convert_ids_to_tokens(ids))
            theirs = ids if same else []
        if theirs != ids:
            raise ValueError(
                f"openai backend: {self.root_url} does not tokenize as {self.tokenizer_spec!r} "
                f"(server {theirs[:8]}..., ours {ids[:8]}...); set the variant's 'model' to the served model's tokenizer"
            )

    def _find_logprobs_mode(self) -> str | None:
        """``prompt_logprobs`` where the server has it, else ``echo`` + ``logprobs``, else none."""
        ids = self.encode(_CHECK_TEXT)
        reasons = []
        for mode, extra in (("prompt_logprobs", {"prompt_logprobs": 1}), ("echo", {"echo": True, "logprobs": 1})):
            try:
                choice = self._completions({"prompt": [ids], "max_tokens": 1, "temperature": 0.0, **extra})["choices"][0]
                self._read_choice(choice, ids, len(ids) - 1, mode)
                return mode
            except (ServerError, KeyError, TypeError, ValueError) as error:
                reasons.append(f"{mode}: {error}")
        self.unsupported["loglikelihood"] = (
            f"{self.api_url} gives no prompt log-probabilities ({'; '.join(reasons)}): likelihood probes are not supported"
        )
        log.warning("openai backend: %s", self.unsupported["loglikelihood"])
        return None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # -- HTTP --------------------------------------------------------------------------------------

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None,
              retries: int | None = None) -> dict[str, Any]:
        """The JSON object the server answers; ``retries`` (default: the option) on transport errors, 429, 5xx."""
        retries = self.retries if retries is None else retries

        def once() -> dict[str, Any]:
            response = self.client.request(method, url, json=body)
            response.raise_for_status()
            try:
                answer = response.json()
            except ValueError as error:
                raise ServerError(f"{url}: the answer is not JSON: {response.text[:200]!r}") from error
            if not isinstance(answer, dict):
                raise ServerError(f"{url}: the answer is not a JSON object: {response.text[:200]!r}")
            return answer

        try:
            for attempt in Retrying(
                stop=stop_after_attempt(retries + 1),
                wait=wait_exponential(multiplier=0.5, max=8),
                retry=retry_if_exception(_retryable),
                reraise=True,
            ):
                with attempt:
                    return once()
        except httpx.HTTPStatusError as error:
            detail = error.response.text.strip()[:500]
            raise ServerError(f"{url} answered {error.response.status_code}: {detail}") from error
        except httpx.HTTPError as error:
            raise ServerError(
                f"{url}: {type(error).__name__}: {error or 'no answer'} "
                f"(after {retries + 1} attempt(s))"
            ) from error
        raise AssertionError("unreachable")

    def _completions(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"{self.api_url}/completions", {"model": self.model, **body})

    # -- the two request kinds ---------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        if self.tokenizer is None:
            return self._server_tokenize({"prompt": text, "add_special_tokens": False})
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def prompt_ids(self, request: GenerateRequest) -> list[int]:
        """The prompt's token ids, wrapped in the chat template where the local backends wrap it."""
        chat = self.chat_template if request.chat is None else request.chat
        if self.tokenizer is not None:
            ids = self.encode(render_prompt(self.tokenizer, request, self.chat_template, self.model))
        elif not chat:
            ids = self.encode(request.prompt)
        else:
            ids = self._server_tokenize(
                {"messages": [{"role": "user", "content": request.prompt}], "add_generation_prompt": True,
                 "add_special_tokens": False}
            )
        # an empty prompt is conditioned on BOS (else EOS), as the local backends do
        return ids or [self.prefix_id if self.prefix_id is not None else self._server_prefix_id()]

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if self.logprobs_mode is None:
            raise ServerError(self.unsupported["loglikelihood"])
        prefix = self.prefix_id
        if prefix is None:  # the server's tokenizer: BOS is needed only to condition an empty context
            prefix = self._server_prefix_id() if any(not r.context.strip() for r in requests) else -1
        encoded = [pair_tokens(self.encode, r, prefix) for r in requests]
        batches = [encoded[i : i + self.batch_size] for i in range(0, len(encoded), self.batch_size)]
        results: list[LoglikelihoodResult] = []
        for batch_results in self.pool.map(self._loglikelihood_batch, batches):
            results.extend(batch_results)
        return results

    def _loglikelihood_batch(self, batch: list[tuple[list[int], int]]) -> list[LoglikelihoodResult]:
        body: dict[str, Any] = {"prompt": [tokens for tokens, _ in batch], "max_tokens": 1, "temperature": 0.0}
        if self.logprobs_mode == "prompt_logprobs":
            body["prompt_logprobs"] = 1
        else:
            body.update(echo=True, logprobs=1)
        choices = sorted(self._completions(body)["choices"], key=lambda c: c.get("index", 0))
        if len(choices) != len(batch):
            raise ServerError(f"{self.api_url}: asked for {len(batch)} prompts, got {len(choices)} answers")
        mode = self.logprobs_mode or "echo"
        return [self._read_choice(choice, tokens, n, mode) for choice, (tokens, n) in zip(choices, batch, strict=True)]

    def _server_prefix_id(self) -> int:
        """Without a local tokenizer: the server's BOS (else EOS) id, as the local backends condition on."""
        ids = self._server_tokenize({"prompt": "", "add_special_tokens": True})
        if not ids:
            raise ServerError(
                f"{self.root_url}: cannot find the BOS token to condition an empty context on; "
                "set the variant's 'model' to a local tokenizer folder"
            )
        self.prefix_id = ids[0]
        return ids[0]

    def _read_choice(self, choice: dict[str, Any], tokens: list[int], n: int, mode: str) -> LoglikelihoodResult:
        start = len(tokens) - n
        total, greedy = 0.0, True
        if mode == "prompt_logprobs":
            positions = choice.get("prompt_logprobs")
            if not positions or len(positions) < len(tokens):
                raise ServerError(f"{self.api_url}: no prompt_logprobs in the answer")
            for token, entry in zip(tokens[start:], positions[start : len(tokens)], strict=True):
                chosen = entry.get(str(token))
                if chosen is None:
                    raise ServerError(f"{self.api_url}: prompt_logprobs lack the prompt's token {token}")
                total += chosen["logprob"]
                rank = chosen.get("rank")
                best = max(v["logprob"] for v in entry.values())
                greedy = greedy and (rank == 1 if rank is not None else chosen["logprob"] >= best)
        else:
            logprobs = choice.get("logprobs") or {}
            values, tops = logprobs.get("token_logprobs") or [], logprobs.get("top_logprobs") or []
            if len(values) < len(tokens):
                raise ServerError(f"{self.api_url}: the echo answer holds {len(values)} prompt logprobs, not {len(tokens)}")
            for i in range(start, len(tokens)):
                total += values[i]
                top = tops[i] if i < len(tops) and tops[i] else {}
                greedy = greedy and (not top or values[i] >= max(top.values()) - 1e-6)
        if not math.isfinite(total):
            raise ServerError(f"{self.api_url}: log-probability {total} is not finite")
        return LoglikelihoodResult(total, n, greedy)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return list(self.pool.map(self._generate_one, requests))

    def _generate_one(self, request: GenerateRequest) -> GenerateResult:
        body: dict[str, Any] = {
            "prompt": self.prompt_ids(request),
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        answer = self._completions(body)
        choice = answer["choices"][0]
        text, _ = cut_at_stop(choice.get("text") or "", request.stop)
        usage = answer.get("usage") or {}
        tokens = int(usage.get("completion_tokens") or len(self.encode(choice.get("text") or "")) or 1)
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return GenerateResult(text, tokens, reason)
