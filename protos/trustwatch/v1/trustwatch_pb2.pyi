from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListVariantsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVariantsResponse(_message.Message):
    __slots__ = ("variants", "baseline")
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    baseline: str
    def __init__(self, variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ..., baseline: _Optional[str] = ...) -> None: ...

class Variant(_message.Message):
    __slots__ = ("name", "model", "backend", "state", "reason", "compression", "baseline")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Variant.State]
        LOADING: _ClassVar[Variant.State]
        READY: _ClassVar[Variant.State]
        FAILED: _ClassVar[Variant.State]
    STATE_UNSPECIFIED: Variant.State
    LOADING: Variant.State
    READY: Variant.State
    FAILED: Variant.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    backend: str
    state: Variant.State
    reason: str
    compression: CompressionSummary
    baseline: bool
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., backend: _Optional[str] = ..., state: _Optional[_Union[Variant.State, str]] = ..., reason: _Optional[str] = ..., compression: _Optional[_Union[CompressionSummary, _Mapping]] = ..., baseline: _Optional[bool] = ...) -> None: ...

class CompressionSummary(_message.Message):
    __slots__ = ("method", "bits", "group_size", "sparsity", "parameters_json", "source")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    SPARSITY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    method: str
    bits: int
    group_size: int
    sparsity: float
    parameters_json: str
    source: str
    def __init__(self, method: _Optional[str] = ..., bits: _Optional[int] = ..., group_size: _Optional[int] = ..., sparsity: _Optional[float] = ..., parameters_json: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class GenerationSettings(_message.Message):
    __slots__ = ("max_new_tokens", "temperature", "top_p", "seed", "stop", "chat")
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    chat: bool
    def __init__(self, max_new_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., chat: _Optional[bool] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("variant", "prompt", "settings")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    variant: str
    prompt: str
    settings: GenerationSettings
    def __init__(self, variant: _Optional[str] = ..., prompt: _Optional[str] = ..., settings: _Optional[_Union[GenerationSettings, _Mapping]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("variant", "text", "tokens", "finish_reason")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    variant: str
    text: str
    tokens: int
    finish_reason: str
    def __init__(self, variant: _Optional[str] = ..., text: _Optional[str] = ..., tokens: _Optional[int] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("variant", "context", "continuation")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    variant: str
    context: str
    continuation: str
    def __init__(self, variant: _Optional[str] = ..., context: _Optional[str] = ..., continuation: _Optional[str] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("variant", "logprob", "tokens", "is_greedy")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    IS_GREEDY_FIELD_NUMBER: _ClassVar[int]
    variant: str
    logprob: float
    tokens: int
    is_greedy: bool
    def __init__(self, variant: _Optional[str] = ..., logprob: _Optional[float] = ..., tokens: _Optional[int] = ..., is_greedy: _Optional[bool] = ...) -> None: ...

class GenerateBatchRequest(_message.Message):
    __slots__ = ("variant", "prompts", "settings")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    variant: str
    prompts: _containers.RepeatedScalarFieldContainer[str]
    settings: GenerationSettings
    def __init__(self, variant: _Optional[str] = ..., prompts: _Optional[_Iterable[str]] = ..., settings: _Optional[_Union[GenerationSettings, _Mapping]] = ...) -> None: ...

class GenerateBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[GenerateResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[GenerateResponse, _Mapping]]] = ...) -> None: ...

class ScorePair(_message.Message):
    __slots__ = ("context", "continuation")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    context: str
    continuation: str
    def __init__(self, context: _Optional[str] = ..., continuation: _Optional[str] = ...) -> None: ...

class ScoreBatchRequest(_message.Message):
    __slots__ = ("variant", "pairs")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    variant: str
    pairs: _containers.RepeatedCompositeFieldContainer[ScorePair]
    def __init__(self, variant: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[ScorePair, _Mapping]]] = ...) -> None: ...

class ScoreBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ScoreResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[ScoreResponse, _Mapping]]] = ...) -> None: ...

class StartReplayRequest(_message.Message):
    __slots__ = ("new_round",)
    NEW_ROUND_FIELD_NUMBER: _ClassVar[int]
    new_round: bool
    def __init__(self, new_round: _Optional[bool] = ...) -> None: ...

class GetReplayStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProbeProgress(_message.Message):
    __slots__ = ("variant", "probe", "items_done", "items_total")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_DONE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    variant: str
    probe: str
    items_done: int
    items_total: int
    def __init__(self, variant: _Optional[str] = ..., probe: _Optional[str] = ..., items_done: _Optional[int] = ..., items_total: _Optional[int] = ...) -> None: ...

class ReplayStatus(_message.Message):
    __slots__ = ("running", "round", "cycles", "progress", "last_cycle_seconds", "last_error", "outcomes_stored", "stalled")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    CYCLES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LAST_CYCLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_STORED_FIELD_NUMBER: _ClassVar[int]
    STALLED_FIELD_NUMBER: _ClassVar[int]
    running: bool
    round: int
    cycles: int
    progress: _containers.RepeatedCompositeFieldContainer[ProbeProgress]
    last_cycle_seconds: float
    last_error: str
    outcomes_stored: int
    stalled: str
    def __init__(self, running: _Optional[bool] = ..., round: _Optional[int] = ..., cycles: _Optional[int] = ..., progress: _Optional[_Iterable[_Union[ProbeProgress, _Mapping]]] = ..., last_cycle_seconds: _Optional[float] = ..., last_error: _Optional[str] = ..., outcomes_stored: _Optional[int] = ..., stalled: _Optional[str] = ...) -> None: ...

class GetDivergenceRequest(_message.Message):
    __slots__ = ("candidate", "probe", "group")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    probe: str
    group: str
    def __init__(self, candidate: _Optional[str] = ..., probe: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class DivergenceRow(_message.Message):
    __slots__ = ("baseline", "candidate", "probe", "metric", "group", "baseline_value", "candidate_value", "degradation", "lower", "upper", "n_items", "confidence", "method", "worse")
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    BASELINE_VALUE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_VALUE_FIELD_NUMBER: _ClassVar[int]
    DEGRADATION_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    N_ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    WORSE_FIELD_NUMBER: _ClassVar[int]
    baseline: str
    candidate: str
    probe: str
    metric: str
    group: str
    baseline_value: float
    candidate_value: float
    degradation: float
    lower: float
    upper: float
    n_items: int
    confidence: float
    method: str
    worse: str
    def __init__(self, baseline: _Optional[str] = ..., candidate: _Optional[str] = ..., probe: _Optional[str] = ..., metric: _Optional[str] = ..., group: _Optional[str] = ..., baseline_value: _Optional[float] = ..., candidate_value: _Optional[float] = ..., degradation: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., n_items: _Optional[int] = ..., confidence: _Optional[float] = ..., method: _Optional[str] = ..., worse: _Optional[str] = ...) -> None: ...

class GetDivergenceResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[DivergenceRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[DivergenceRow, _Mapping]]] = ...) -> None: ...

class GetGateRequest(_message.Message):
    __slots__ = ("candidate",)
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    def __init__(self, candidate: _Optional[str] = ...) -> None: ...

class WatchGateRequest(_message.Message):
    __slots__ = ("candidate",)
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    def __init__(self, candidate: _Optional[str] = ...) -> None: ...

class GateReason(_message.Message):
    __slots__ = ("rule", "group", "status", "reason", "tolerance", "divergence")
    RULE_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TOLERANCE_FIELD_NUMBER: _ClassVar[int]
    DIVERGENCE_FIELD_NUMBER: _ClassVar[int]
    rule: str
    group: str
    status: str
    reason: str
    tolerance: float
    divergence: DivergenceRow
    def __init__(self, rule: _Optional[str] = ..., group: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., tolerance: _Optional[float] = ..., divergence: _Optional[_Union[DivergenceRow, _Mapping]] = ...) -> None: ...

class GateVerdict(_message.Message):
    __slots__ = ("candidate", "baseline", "verdict", "degenerate", "reasons", "items_needed", "mode", "revision", "evaluated_at")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[GateVerdict.Decision]
        PASS: _ClassVar[GateVerdict.Decision]
        FAIL: _ClassVar[GateVerdict.Decision]
        INCONCLUSIVE: _ClassVar[GateVerdict.Decision]
    DECISION_UNSPECIFIED: GateVerdict.Decision
    PASS: GateVerdict.Decision
    FAIL: GateVerdict.Decision
    INCONCLUSIVE: GateVerdict.Decision
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    DEGENERATE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_NEEDED_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    baseline: str
    verdict: GateVerdict.Decision
    degenerate: bool
    reasons: _containers.RepeatedCompositeFieldContainer[GateReason]
    items_needed: int
    mode: str
    revision: int
    evaluated_at: float
    def __init__(self, candidate: _Optional[str] = ..., baseline: _Optional[str] = ..., verdict: _Optional[_Union[GateVerdict.Decision, str]] = ..., degenerate: _Optional[bool] = ..., reasons: _Optional[_Iterable[_Union[GateReason, _Mapping]]] = ..., items_needed: _Optional[int] = ..., mode: _Optional[str] = ..., revision: _Optional[int] = ..., evaluated_at: _Optional[float] = ...) -> None: ...
