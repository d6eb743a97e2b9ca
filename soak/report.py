"""The soak's counters and its report: calls per RPC, verdicts, reasons, examples (fingerprints only)."""

from __future__ import annotations

from collections import Counter, defaultdict

from .world import Answer, Judgement, example


class Tally:
    def __init__(self, started: float, max_examples: int) -> None:
        self.started = started
        self.max_examples = max_examples
        self.calls: Counter[str] = Counter()
        self.verdicts: dict[str, Counter[str]] = defaultdict(Counter)  # rpc → verdict → n
        self.reasons: dict[str, Counter[str]] = defaultdict(Counter)  # rpc → reason of each "no" → n
        self.cases: Counter[str] = Counter()
        self.grpc_errors: Counter[str] = Counter()
        self.examples: dict[str, list[dict]] = {Judgement.WRONG.value: [], Judgement.UNEXPECTED.value: []}

    def add(self, rpc: str, case: str, token: str, a: Answer, verdict: Judgement, why: str) -> None:
        self.calls[rpc] += 1
        self.cases[f"{rpc}:{case}"] += 1
        self.verdicts[rpc][verdict.value] += 1
        if not a.yes:
            self.reasons[rpc][a.why] += 1
            if a.why.startswith("grpc:"):
                self.grpc_errors[a.why.removeprefix("grpc:")] += 1
        kept = self.examples.get(verdict.value)
        if kept is not None and len(kept) < self.max_examples:
            kept.append(example(rpc, case, token, a, why, self.started))

    def total(self, verdict: Judgement) -> int:
        return sum(v[verdict.value] for v in self.verdicts.values())

    def figures(self) -> dict:
        return {
            "calls": dict(self.calls),
            "calls_total": sum(self.calls.values()),
            "wrong_answers": self.total(Judgement.WRONG),
            "fail_closed_answers": self.total(Judgement.FAIL_CLOSED),
            "unexpected_rejections": self.total(Judgement.UNEXPECTED),
            "internal_errors": self.grpc_errors.get("INTERNAL", 0),
            "wrong_examples": self.examples[Judgement.WRONG.value],
            "unexpected_examples": self.examples[Judgement.UNEXPECTED.value],
            "verdicts_by_rpc": {rpc: dict(v) for rpc, v in self.verdicts.items()},
            "rejection_reasons_by_rpc": {rpc: dict(r.most_common()) for rpc, r in self.reasons.items()},
            "grpc_errors": dict(self.grpc_errors),
            "cases": dict(sorted(self.cases.items())),
        }


def summary(report: dict) -> str:
    rss = report["rss_mb"]
    lines = [
        f"soak {report['seconds']:.0f} s, {report['calls_total']} calls "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report['calls'].items()))})",
        f"  wrong answers          {report['wrong_answers']}",
        f"  fail-closed answers    {report['fail_closed_answers']}",
        f"  unexpected rejections  {report['unexpected_rejections']}",
        f"  internal errors        {report['internal_errors']}",
        f"  events                 {report['events_total']} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report['events'].items()))})",
        f"  sidecar RSS MB         start {rss['start']:.1f}, end {rss['end']:.1f}, peak {rss['peak']:.1f}; "
        f"CPU {report['sidecar_cpu_seconds']:.1f} s",
    ]
    for kind in ("wrong_examples", "unexpected_examples"):
        for ex in report[kind]:
            lines.append(f"  {kind[:-9]}: {ex}")
    return "\n".join(lines)
