"""The service core: variants, live requests, continuous replay, statistics and the gate.

gRPC handlers, the HTTP endpoints, ``trustwatch serve`` and the tests all call this class; it
knows nothing of gRPC or HTTP. It builds its runtime once (:func:`build_runtime`, as
``trustwatch run`` does) and answers every query: divergence by candidate, probe and group,
the gate (or the pending verdict before any paired outcome), replay status, variant
summaries, and the report of the first replay round. One background thread loads the
variants, then replays: each cycle takes the next ``items_per_cycle`` items that some ready
variant has not answered in the current round, asks every ready variant, stores the
outcomes, recomputes the statistics from the store and publishes them (Prometheus
snapshot, ``WatchGate`` subscribers).

Faults stay where they happen. While the store cannot be written (the disk is full), replay
stops asking, checks the store with a backoff (1 s doubling to ``STORE_RETRY_MAX_SECONDS``) and
goes on by itself once a write succeeds; meanwhile readiness (:mod:`readiness`), the replay
status (``stalled``) and the metrics say why. A store found corrupt while serving stops the
service (``failure``; ``trustwatch serve`` exits non-zero), since no later write could succeed.
A round that holds no data does not count: ``StartReplay`` with ``new_round`` on an empty round
keeps its number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.errors import NotFoundError, StoreError, UnavailableError
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from trustwatch.monitors.divergence import DivergenceRow
from trustwatch.monitors.gate import Verdict
from trustwatch.probes.items import Item
from trustwatch.server.analysis import Analysis, analyse
from trustwatch.server.exporter import Exporter, snapshot_of
from trustwatch.server.live_admission import LiveAdmission
from trustwatch.server.live_batcher import LiveBatcher
from trustwatch.server.live_requests import check_batch, generate_requests, loglikelihood_requests
from trustwatch.server.readiness import BASELINE, DRAINING, LOADING, STORE, Readiness
from trustwatch.server.replay import RUN_CHUNK, ReplayStopped
from trustwatch.server.run_job import write_report
from trustwatch.server.runtime import build_runtime
from trustwatch.server.service_config import ServeConfig
from trustwatch.server.store import StoreCorruptError, StoreWriteError
from trustwatch.server.summaries import FirstRoundReport, ProbeProgress, ReplayStatus, VariantSummary
from trustwatch.server.variants import Variant, summarise_manifest

log = logging.getLogger("trustwatch.service")


RETRY_LOAD_SECONDS = 30.0
"""How often a served variant that failed to load is tried again."""
STORE_RETRY_MAX_SECONDS = 30.0
"""The longest wait between two checks of a store that cannot be written."""
REPORT_RETRY_SECONDS = 30.0
"""How long after a failed write of the first-round report it is tried again."""
SERVED_CHECK_SECONDS = 10.0
"""How often the served variants' servers are asked what they serve while replay waits (between
rounds, or stopped); a replay cycle asks at its start and after its slice."""
SERVED_FRESH_SECONDS = 1.0
"""A check this recent stands for the one at the start of a replay cycle: cycles that follow each
other without a pause ask each server once between two slices, not twice."""


class UnknownVariantError(NotFoundError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class VariantNotReadyError(UnavailableError):
    pass


@dataclass
class ReplayState:
    running: bool = False
    round: int = 0
    cycles: int = 0
    last_cycle_seconds: float = 0.0
    last_error: str = ""
    stalled: str = ""
    """Why replay cannot go on now ("" while it can): the store cannot be written, or is corrupt."""
    wake: threading.Event = field(default_factory=threading.Event)


class ServiceCore:
    def __init__(self, config: ServeConfig, exporter: Exporter | None = None, progress: bool = False) -> None:
        self.config = config
        self.exporter = exporter or Exporter()
        self.readiness = Readiness()
        self.readiness.set(LOADING, "loading the variants")
        self.exporter.readiness = self.readiness
        self.failure = ""
        """Why the service cannot go on ("" while it can): set when the store is found corrupt."""
        try:
            self.runtime = runtime = build_runtime(
                config.run, config.store_path, progress=progress, replay_share=config.replay.max_backend_share,
                # Small replay chunks while live traffic is present (a live request waits for one
                # chunk at most); with none, full ones, as `trustwatch run` batches.
                observer=self.exporter, chunk_size=8, idle_chunk_size=RUN_CHUNK,
                on_corrupt=config.store_on_corrupt,
            )
        except StoreCorruptError as error:
            raise StoreCorruptError(f"{error}; or set store.on_corrupt: quarantine to have trustwatch serve move "
                                    "it aside and start a new store") from error
        for change in runtime.producer_changes:
            log.warning("variant %s, probe %s: its %s changed since the store's data; its outcomes start afresh "
                        "(the earlier ones stay in the store, unused)", change.variant, change.probe,
                        ", ".join(change.changed))
        for variant in config.run.variants:
            if variant.backend == "openai":  # exported from 0, so that increase() sees the first change
                self.exporter.served_model_changes.labels(variant.name)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.items: list[Item] = runtime.items
        self.scorer = runtime.scorer
        self.store = runtime.store
        self.registry = runtime.registry
        self.engine = runtime.engine
        self.baseline = runtime.baseline
        self.candidates = runtime.candidates
        self.mode = config.replay.mode
        """The continuous gate's mode (``replay.mode``); the first-round report uses the policy's."""
        self.loaded = threading.Event()
        self.replay = ReplayState(round=self.store.latest_round())
        self._round_lock = threading.Lock()
        self._retained_round: int | None = None
        self._outage_since = 0.0
        """When the store first failed a write in the current outage (0: no outage)."""
        self._backoff = 0.0
        self._report_retry_at = 0.0
        self._stop = threading.Event()
        self.engine.stopping = self._stop.is_set
        self._analysis = Analysis()
        self.evaluated_at = 0.0
        """When the current analysis was made (Unix seconds); 0 before the first."""
        self._revisions: dict[str, int] = {}
        self._published: dict[str, tuple[Any, ...]] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._batchers: dict[str, LiveBatcher] = {}
        self._batchers_lock = threading.Lock()
        self.admission = LiveAdmission(config.limits.max_queued_calls, self.exporter.shed)
        """At most ``limits.max_queued_calls`` live calls wait or run at once; more are shed."""
        self._first_round_reported = False
        self._tried: dict[str, float] = {}
        """When each variant was last loaded or tried (monotonic seconds)."""
        self._served_checked = time.monotonic()
        """When the served variants' servers were last asked what they serve (monotonic seconds)."""
        self._publish()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the variants and replay, in a background thread."""
        self._thread = threading.Thread(target=self._main, name="trustwatch-replay", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            self._load()
            self._replay_loop()
        except StoreCorruptError as error:
            self._fail(str(error))
        except Exception as error:  # a replay thread that dies must not leave a process that never says so
            log.exception("the replay thread failed")
            self._fail(f"the replay thread failed: {type(error).__name__}: {error}")

    def _load(self) -> None:
        self.registry.load_all(on_loaded=lambda _: self._publish())
        self._tried = {v.name: time.monotonic() for v in self.registry}
        self._bind_served(ask=False)  # what each server said at load
        baseline = self.registry[self.baseline]
        if baseline.state != "ready":
            self.readiness.set(BASELINE, f"baseline {self.baseline!r} failed to load: {baseline.reason}")
        self._recompute()
        self.loaded.set()
        self.readiness.clear(LOADING)
        if self.config.replay.autostart:
            self.replay.running = True

    def _replay_loop(self) -> None:
        while not self._stop.is_set():
            self._retry_served_variants()
            if not self.replay.running:
                self._bind_served(every=SERVED_CHECK_SECONDS)
                self.replay.wake.wait(1.0)
                self.replay.wake.clear()
                continue
            try:
                if self._outage_since:
                    self.store.check_writable()  # a cheap write before asking the backends again
                self.run_cycle()
                if self._outage_since:
                    self._store_recovered()
            except ReplayStopped:
                log.info("replay stopped for shutdown; the unfinished slice is asked again on the next start")
                return
            except StoreWriteError as error:
                self._store_outage(error)
            except StoreCorruptError:
                raise
            except Exception as error:  # the loop must survive anything; the error is recorded
                self.replay.last_error = f"{type(error).__name__}: {error}"
                log.warning("replay cycle failed (retrying in 5 s): %s", self.replay.last_error)
                self.exporter.error("", "replay")
                try:
                    self.store.record_error("replay", self.replay.last_error)
                except StoreError as store_error:
                    log.warning("could not record the error in the store: %s", store_error)
                self._stop.wait(5.0)

    def _store_outage(self, error: StoreWriteError) -> None:
        """The store cannot be written: not ready, say why, wait longer each time, try again."""
        if not self._outage_since:
            self._outage_since = time.time()
        self._backoff = min(max(2 * self._backoff, 1.0), STORE_RETRY_MAX_SECONDS)
        message = f"{error}; replay stopped, checking again in {self._backoff:.0f} s"
        self.replay.stalled = message
        self.replay.last_error = str(error)
        self.readiness.set(STORE, message)
        self.exporter.error("", "store")
        log.warning("%s", message)
        self._stop.wait(self._backoff)

    def _store_recovered(self) -> None:
        seconds = time.time() - self._outage_since
        message = f"the store could not be written for {seconds:.0f} s ({self.replay.last_error}); replay went on"
        self._outage_since = 0.0
        self._backoff = 0.0
        self.replay.stalled = ""
        self.readiness.clear(STORE)
        log.warning("results store %s: writable again; %s", self.config.store_path, message)
        self.store.record_error("store", message)

    def _fail(self, message: str) -> None:
        """The service cannot go on: not ready, replay stopped, ``failure`` set (serve exits non-zero)."""
        log.error("%s", message)
        self.failure = message
        self.replay.running = False
        self.replay.stalled = message
        self.replay.last_error = message
        self.readiness.set(STORE, message)
        self.loaded.set()

    def _retry_served_variants(self) -> bool:
        """A served variant (backend ``openai``) that failed to load is tried again every
        ``RETRY_LOAD_SECONDS``: its model server may start after trustwatch, or restart. Once it
        loads, replay gives it the round's items it has not answered (also when the others had
        finished the round: the pause between rounds ends). True when one loaded."""
        loaded = False
        now = time.monotonic()
        for variant in self.registry:
            if (variant.state != "failed" or variant.config.backend != "openai"
                    or now - self._tried.get(variant.name, now) < RETRY_LOAD_SECONDS):
                continue
            self._tried[variant.name] = now
            self.registry.load(variant)
            if variant.state == "ready":
                loaded = True
                log.info("variant %s loaded on a retry (%s)", variant.name, variant.config.describe())
                if variant.name == self.baseline:
                    self.readiness.clear(BASELINE)
                self._publish()  # the next replay cycle asks what it serves, before it asks it anything
        return loaded

    def _check_served(self, every: float = 0.0, ask: bool = True) -> bool:
        """Ask each ready served variant's server what it serves (at most once per ``every`` seconds);
        a variant whose model changed starts its outcomes afresh (:meth:`Runtime.check_served`) and the
        statistics are recomputed at once, without the model served before. True when one changed.
        A store that cannot be written raises :class:`StoreWriteError`: nothing is bound anew then,
        and the next check tries again."""
        now = time.monotonic()
        if now - self._served_checked < every:
            return False
        self._served_checked = now
        changes = self.runtime.check_served(self.registry.ready(), ask=ask)
        if not changes:
            return False
        for change in changes:
            if change.before is not None:  # not a model first known
                self.exporter.served_model_changed(change.variant)
        self._recompute()
        return True

    def _bind_served(self, every: float = 0.0, ask: bool = True) -> None:
        """:meth:`_check_served` outside a replay cycle: a store that cannot be written is logged
        (replay's own outage handling takes over when it writes), not raised."""
        try:
            self._check_served(every, ask)
        except StoreWriteError as error:
            log.warning("could not bind the served variants' producers (trying again at the next check): %s", error)

    def begin_drain(self) -> None:
        """Stop taking work, at once: readiness turns false (:attr:`stopping`), ``WatchGate`` streams
        end, and replay stops (inside its backend call where the backend allows, else before the next
        chunk), storing nothing of the slice it was on."""
        self.readiness.set(DRAINING, "shutting down")
        self._stop.set()
        self.replay.wake.set()
        with self._changed:
            self._changed.notify_all()

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Drain (:meth:`begin_drain`), wait up to ``timeout`` seconds for the replay thread and the
        live calls in flight, then close the backends and the store; True when all of that happened.

        False: a thread is still inside a backend call after ``timeout``. Nothing is closed under it
        then, and the caller should end the process without waiting (``os._exit``): a normal
        interpreter exit ends such a thread with ``pthread_exit`` while it runs PyTorch's C++ code,
        which aborts the process ("terminate called without an active exception"). The store stays
        consistent: every slice is stored in one transaction, which SQLite rolls back if cut off.
        """
        self.begin_drain()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._batchers_lock:
            batchers = list(self._batchers.values())
        idle = [batcher.close(max(0.0, deadline - time.monotonic())) for batcher in batchers]
        if (self._thread is not None and self._thread.is_alive()) or not all(idle):
            return False
        self.runtime.close()
        return True

    @property
    def stopping(self) -> bool:
        """Draining or stopped (:meth:`begin_drain`): not ready."""
        return self._stop.is_set()

    # -- variants and live requests --------------------------------------------------------

    def variant_summaries(self) -> list[VariantSummary]:
        """Each hosted variant: model, backend, state and why, compression summary, whether the baseline."""
        return [
            VariantSummary(
                name=v.name, model=v.config.describe(), backend=v.config.backend, state=v.state, reason=v.reason,
                baseline=v.name == self.baseline, compression=summarise_manifest(v.compression),
            )
            for v in self.registry
        ]

    def ready_variant(self, name: str) -> Variant:
        """The named variant, ready to answer; UnknownVariantError / VariantNotReadyError otherwise."""
        if name not in self.registry.variants:
            known = ", ".join(self.registry.variants)
            raise UnknownVariantError(f"unknown variant {name!r} (hosted: {known})")
        variant = self.registry[name]
        if variant.state != "ready" or variant.backend is None:
            why = f": {variant.reason}" if variant.reason else ""
            raise VariantNotReadyError(f"variant {name!r} is {variant.state}{why}")
        return variant

    def check_batch(self, n: int) -> None:
        """ValueError for an empty batch or one over ``limits.max_batch``."""
        check_batch(self.config.limits, n)

    def generate_requests(self, name: str, prompts: Sequence[str], **settings: Any) -> list[GenerateRequest]:
        """Requests for a ready variant within the limits (see :func:`live_requests.generate_requests`)."""
        self.ready_variant(name)
        return generate_requests(self.config.limits, prompts, **settings)

    def loglikelihood_requests(self, name: str, pairs: Sequence[tuple[str, str]]) -> list[LoglikelihoodRequest]:
        """Requests for a ready variant within the limits."""
        self.ready_variant(name)
        return loglikelihood_requests(self.config.limits, pairs)

    def generate(self, name: str, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        batcher = self._batcher(name)
        with self.admission.admit(name), self.exporter.live_in_flight.labels(name).track_inprogress():
            return batcher.submit("generate", requests)

    def loglikelihood(self, name: str, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        batcher = self._batcher(name)
        with self.admission.admit(name), self.exporter.live_in_flight.labels(name).track_inprogress():
            return batcher.submit("loglikelihood", requests)

    def _batcher(self, name: str) -> LiveBatcher:
        variant = self.ready_variant(name)
        with self._batchers_lock:
            if name not in self._batchers:
                self._batchers[name] = LiveBatcher(variant, self.config.limits.max_batch, self.exporter.backend_request)
            return self._batchers[name]

    # -- replay ----------------------------------------------------------------------------

    def start_replay(self, new_round: bool = False) -> None:
        """Start (or resume) replay; ``new_round``: ask every item again, in a new round, unless the
        current round holds no data (then it is the new round: empty rounds are not counted)."""
        if new_round:
            self._advance_round()
        self.replay.running = True
        self.replay.wake.set()

    def _advance_round(self) -> bool:
        """The next round, if the current one holds data; False when it holds none (kept)."""
        with self._round_lock:
            if not self.store.holds_round(self.replay.round):
                return False
            self.replay.round += 1
            return True

    def next_slice(self) -> list[Item]:
        ready = [v for v in self.registry if v.state == "ready"]
        done = [self.store.done_items(v.name, self.replay.round) for v in ready]
        todo = [item for item in self.items if not all(item.id in d for d in done)]
        return todo[: self.config.replay.items_per_cycle]

    def round_complete(self) -> bool:
        """Every item of the current round is done by every ready variant (and one is ready).

        True at start-up too when the store already holds the whole round (a restart).
        """
        return any(v.state == "ready" for v in self.registry) and not self.next_slice()

    def run_cycle(self) -> int:
        """One replay cycle; returns how many answers it stored (0 when the round is complete)."""
        if self.config.retention_rounds and self._retained_round != self.replay.round:
            # once per round number, here in the replay thread, whoever moved the round
            self.store.apply_retention(self.config.retention_rounds)
            self._retained_round = self.replay.round
        self._check_served(every=SERVED_FRESH_SECONDS)
        items = self.next_slice()
        if not items:
            if not self.config.replay.continuous:
                self.replay.running = False
                return 0
            if self._pause_round():
                self._advance_round()
            return 0
        began = time.perf_counter()
        result = self.engine.run_slice(self.registry.ready(), items, self.replay.round)
        # The slice is stored: the cycle counts even if the statistics below fail.
        self.replay.cycles += 1
        self.replay.last_cycle_seconds = time.perf_counter() - began
        self.exporter.cycle(self.replay.last_cycle_seconds)
        # A model swapped in during the slice may have answered under the producer of the one before:
        # those answers go uncounted with it, before any statistic reads them.
        if not self._check_served():
            self._recompute()
        if self.config.replay.pause_seconds:
            self._stop.wait(self.config.replay.pause_seconds)
        return result.items

    def _pause_round(self) -> bool:
        """Wait ``replay.round_pause_seconds`` between two rounds, asking the served variants' servers
        every ``SERVED_CHECK_SECONDS`` and retrying those that failed to load; False when the service
        stops, a served model changed, or a failed variant loaded (its variant has the round to
        answer, at once)."""
        deadline = time.monotonic() + self.config.replay.round_pause_seconds
        while (left := deadline - time.monotonic()) > 0:
            if (self._stop.wait(min(left, SERVED_CHECK_SECONDS)) or self._check_served(every=SERVED_CHECK_SECONDS)
                    or self._retry_served_variants()):
                return False
        return True

    def replay_progress(self) -> list[ProbeProgress]:
        counts = self.store.done_counts(self.replay.round)
        totals: dict[str, int] = {}
        for item in self.items:
            totals[item.probe] = totals.get(item.probe, 0) + 1
        return [
            ProbeProgress(v.name, probe, counts.get((v.name, probe), 0), total)
            for v in self.registry
            for probe, total in totals.items()
        ]

    def replay_status(self) -> ReplayStatus:
        state = self.replay
        return ReplayStatus(
            running=state.running, round=state.round, cycles=state.cycles,
            last_cycle_seconds=state.last_cycle_seconds, last_error=state.last_error,
            outcomes_stored=self.store.count_outcomes(), progress=self.replay_progress(), stalled=state.stalled,
        )

    def report_first_round(self, report_dir: Path, seconds: float) -> FirstRoundReport | None:
        """Once the variants are loaded and the first round is complete: write its report to
        ``report_dir`` (as ``trustwatch run`` does, in the policy's mode, fixed by default; the
        continuous gate stays in ``replay.mode``) and return it. None before, and after the first call
        that wrote it."""
        if (self._first_round_reported or self.failure or not self.loaded.is_set()
                or time.monotonic() < self._report_retry_at or not self.round_complete()):
            return None
        errors = {f"{v}/{s}": n for (v, s), n in self.store.error_counts().items()}
        try:
            analysis, report_json, html = write_report(report_dir, self.runtime, errors, seconds)
        except (OSError, StoreWriteError) as error:  # a full disk: the store may still be written later
            self._report_retry_at = time.monotonic() + REPORT_RETRY_SECONDS
            log.warning("could not write the first-round report to %s (trying again in %.0f s): %s",
                        report_dir, REPORT_RETRY_SECONDS, error)
            return None
        self._first_round_reported = True
        return FirstRoundReport(analysis, report_json, html, len(self.items), self.replay.round,
                                replayed=self.replay.cycles > 0)

    # -- statistics and the gate -----------------------------------------------------------

    @property
    def analysis(self) -> Analysis:
        return self._analysis

    def _recompute(self) -> None:
        rows = self.store.outcome_rows()
        analysis = analyse(rows, self.baseline, self.candidates, self.policy, self.mode, self.runtime.probes)
        with self._changed:
            self._analysis = analysis
            self.evaluated_at = time.time()
            for verdict in analysis.verdicts:
                signature = (
                    verdict.verdict,
                    verdict.degenerate,
                    tuple((r.rule, r.group, r.status) for r in verdict.reasons),
                    tuple(
                        (round(r.divergence.lower, 6), round(r.divergence.upper, 6))
                        for r in verdict.rows
                        if r.divergence is not None
                    ),
                )
                if self._published.get(verdict.candidate) != signature:
                    self._published[verdict.candidate] = signature
                    self._revisions[verdict.candidate] = self._revisions.get(verdict.candidate, 0) + 1
            self._changed.notify_all()
        self._publish()

    def _publish(self) -> None:
        self.exporter.publish(
            snapshot_of(self.baseline, self._analysis, self.policy, self.candidates,
                        {v.name: v.state == "ready" for v in self.registry})
        )

    def check_candidate(self, candidate: str) -> None:
        if candidate not in self.candidates:
            if candidate == self.baseline:
                raise UnknownVariantError(f"{candidate!r} is the baseline, not a candidate")
            raise UnknownVariantError(
                f"unknown candidate {candidate!r} (candidates: {', '.join(self.candidates) or 'none'})"
            )

    def divergence(self, candidate: str, probe: str = "", group: str = "") -> list[DivergenceRow]:
        """The candidate's current divergence rows; an empty ``probe`` or ``group`` keeps every one."""
        self.check_candidate(candidate)
        with self._changed:
            return self._analysis.divergence_of(candidate, probe, group)

    def gate(self, candidate: str) -> tuple[Verdict, int]:
        """The candidate's current verdict (the pending one before any paired outcome) and its revision."""
        self.check_candidate(candidate)
        with self._changed:
            verdict = self._analysis.verdict_or_pending(self.baseline, candidate, self.mode)
            return verdict, self._revisions.get(candidate, 0)

    def watch_gate(self, candidates: Sequence[str], active: Callable[[], bool]) -> Iterator[tuple[Verdict, int]]:
        """The current verdicts, then each change, until ``active()`` is false or the service stops.
        No ``candidates``: every candidate."""
        candidates = list(candidates) or list(self.candidates)
        for candidate in candidates:
            self.check_candidate(candidate)
        sent: dict[str, int] = {}
        while active() and not self._stop.is_set():
            with self._changed:
                # the current verdict of each candidate first (the pending one before any data), then changes
                pending = [
                    (self._analysis.verdict_or_pending(self.baseline, c, self.mode), self._revisions.get(c, 0))
                    for c in candidates
                    if sent.get(c) != self._revisions.get(c, 0)
                ]
                if not pending:
                    self._changed.wait(1.0)
                    continue
            for verdict, revision in pending:
                sent[verdict.candidate] = revision
                yield verdict, revision
