"""Load on a running `trustwatch serve`: concurrent live clients while replay runs.

    python bench/bench_service_load.py                 # 16, 64, 128 clients, 60 s each, embedded model + 4-bit RTN
    python bench/bench_service_load.py --clients 16 64 128 --seconds 20 --max-queued-calls 64
    python bench/bench_service_load.py --quick         # tiny random model, 4 clients, 10 s
    python bench/bench_service_load.py --quick --clients 16 64 128 --max-new-tokens 64

Phases against one service process, in one run:
  replay-only   replay alone (the baseline for replay throughput);
  one-client    one live client while replay runs (the baseline for latency);
  N-clients     N concurrent clients sending Generate and Score (alternating, both variants), for
                each N of --clients.
During every phase a prober asks readiness (grpc.health.v1 Check, service "") and GET /healthz
every 0.25 s, as a kubelet would. Prints requests, errors, calls shed (RESOURCE_EXHAUSTED: more
than ``limits.max_queued_calls`` waiting; a shed client waits the retry-after hint, 1 s),
p50/p99 latency per RPC, the probes' p50/max latency, and replay answers/s, with ratios against
the baselines. Nothing is asserted: this measures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.service.harness import pb, serve  # noqa: E402

PROMPTS = ["Tell me about the sea.", "Name three colours.", "What is a good breakfast?", "Describe a city."]
PAIRS = [("The capital of France is", " Paris"), ("My favourite season is", " autumn")]


def replay_answers(stub: object) -> int:
    return stub.GetReplayStatus(pb.GetReplayStatusRequest()).outcomes_stored  # type: ignore[attr-defined]


def probe_health(running: object, stop: threading.Event) -> dict[str, list[float]]:
    """Readiness (gRPC Check) and /healthz latencies, every 0.25 s until ``stop``; a failed probe counts 10 s."""
    health = health_pb2_grpc.HealthStub(running.channel())  # type: ignore[attr-defined]
    out: dict[str, list[float]] = {"grpc": [], "http": []}
    while not stop.is_set():
        began = time.perf_counter()
        try:
            health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            out["grpc"].append(time.perf_counter() - began)
        except grpc.RpcError:
            out["grpc"].append(10.0)
        began = time.perf_counter()
        try:
            running.get("/healthz")  # type: ignore[attr-defined]
            out["http"].append(time.perf_counter() - began)
        except OSError:
            out["http"].append(10.0)
        stop.wait(0.25)
    return out


def run_clients(stub: object, clients: int, seconds: float, variants: list[str], max_new: int) -> dict[str, list]:
    latencies: dict[str, list[float]] = {"Generate": [], "Score": []}
    errors: list[str] = []
    shed: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        n = 0
        while time.monotonic() < stop:
            variant = variants[(index + n) % len(variants)]
            began = time.perf_counter()
            try:
                if n % 2 == 0:
                    stub.Generate(pb.GenerateRequest(  # type: ignore[attr-defined]
                        variant=variant, prompt=PROMPTS[n % len(PROMPTS)],
                        settings=pb.GenerationSettings(max_new_tokens=max_new, temperature=0.7, seed=n)), timeout=120)
                    kind = "Generate"
                else:
                    context, continuation = PAIRS[n % len(PAIRS)]
                    stub.Score(pb.ScoreRequest(  # type: ignore[attr-defined]
                        variant=variant, context=context, continuation=continuation), timeout=120)
                    kind = "Score"
                with lock:
                    latencies[kind].append(time.perf_counter() - began)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    with lock:
                        shed.append(time.perf_counter() - began)
                    time.sleep(1.0)  # the retry-after hint
                else:
                    with lock:
                        errors.append(f"{error.code().name}: {error.details()}")
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"Generate": latencies["Generate"], "Score": latencies["Score"], "errors": errors, "shed": shed}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=None, help="client counts (default 16 64 128)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--max-queued-calls", type=int, default=None, help="limits.max_queued_calls (default: the service's)")
    parser.add_argument("--quick", action="store_true", help="tiny random model, 4 clients (unless --clients), 10 s")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tw-load-"))
    if args.quick:
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import build_tiny_model

        model = str(build_tiny_model(work / "tiny"))
        group_size, args.clients, args.seconds = 32, args.clients or [4], 10.0
    else:
        model, group_size = "embedded:smollm2-135m", 64
    args.clients = args.clients or [16, 64, 128]
    config = {
        "baseline": "original",
        "variants": [
            {"name": "original", "model": model},
            {"name": "rtn4", "from": "original", "compress": {"method": "rtn", "bits": 4, "group_size": group_size}},
        ],
        "probes": [{"builtin": "all"}],
        "generation": {"k": 3, "max_new_tokens": 16},
        "store": {"path": str(work / "store.sqlite")},
        "replay": {"items_per_cycle": 8, "round_pause_seconds": 0, "max_backend_share": 0.5},
    }
    if args.max_queued_calls:
        config["limits"] = {"max_queued_calls": args.max_queued_calls}
    rows = []
    with serve(config, work) as running:
        running.wait_serving(timeout=900)
        stub = running.stub()
        running.wait_for(lambda: stub.GetReplayStatus(pb.GetReplayStatusRequest()).cycles >= 1, timeout=900)

        def with_probes(phase: object) -> tuple[object, dict[str, list[float]]]:
            holder: dict[str, object] = {}
            stop = threading.Event()
            prober_out: dict[str, dict[str, list[float]]] = {}
            prober = threading.Thread(target=lambda: prober_out.setdefault("out", probe_health(running, stop)))
            prober.start()
            holder["result"] = phase()  # type: ignore[operator]
            stop.set()
            prober.join()
            return holder["result"], prober_out["out"]

        start_answers, began = replay_answers(stub), time.monotonic()
        _, health = with_probes(lambda: time.sleep(args.seconds))
        idle_rate = (replay_answers(stub) - start_answers) / (time.monotonic() - began)
        rows.append(("replay-only", 0, 0, 0, 0, None, None, None, None, health, idle_rate))

        for clients in (1, *args.clients):
            start_answers, began = replay_answers(stub), time.monotonic()
            result, health = with_probes(
                lambda clients=clients: run_clients(stub, clients, args.seconds, ["original", "rtn4"], args.max_new_tokens))
            rate = (replay_answers(stub) - start_answers) / (time.monotonic() - began)
            gen, score = result["Generate"], result["Score"]  # type: ignore[index]
            rows.append((f"{clients}-client{'s' if clients > 1 else ''}", clients, len(gen) + len(score),
                         len(result["errors"]), len(result["shed"]),  # type: ignore[index]
                         statistics.median(gen) if gen else None, percentile(gen, 0.99),
                         statistics.median(score) if score else None, percentile(score, 0.99), health, rate))
            for error in sorted(set(result["errors"]))[:5]:  # type: ignore[index]
                print(f"  error: {error}")
    single_p50 = rows[1][5]
    print(f"\nservice load: {'tiny model (quick)' if args.quick else 'embedded SmolLM2-135M + rtn4'}, "
          f"{args.seconds:.0f} s per phase, max_new_tokens {args.max_new_tokens}, replay share 0.5, "
          f"max_queued_calls {args.max_queued_calls or 'default'}")
    header = ("phase", "clients", "requests", "errors", "shed", "gen p50 s", "gen p99 s", "score p50 s", "score p99 s",
              "ready p50 s", "ready max s", "/healthz p50 s", "/healthz max s",
              "replay outcomes/s", "replay vs idle", "gen p50 vs 1 client")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for name, clients, requests, errors, shed, g50, g99, s50, s99, health, rate in rows:
        ratio = rate / rows[0][10] if rows[0][10] else float("nan")
        slowdown = g50 / single_p50 if g50 and single_p50 else None
        probes = [fmt(statistics.median(v)) if v else "-" for v in (health["grpc"], health["http"])]
        worst = [fmt(max(v)) if v else "-" for v in (health["grpc"], health["http"])]
        print(" | ".join([name, str(clients), str(requests), str(errors), str(shed), fmt(g50), fmt(g99), fmt(s50),
                          fmt(s99), probes[0], worst[0], probes[1], worst[1], f"{rate:.2f}", f"{ratio:.2f}",
                          fmt(slowdown)]))


if __name__ == "__main__":
    main()
