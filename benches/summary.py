#!/usr/bin/env python3
"""Prints the criterion medians of the last `cargo bench` run, each next to its baseline.

Usage: python3 benches/summary.py  (reads target/criterion/*/*/new/estimates.json)
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def median_ns(group: str, bench: str):
    path = root / group / bench / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


rows = []
for group in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "report"):
    benches = sorted(p.name for p in (root / group).iterdir() if p.is_dir() and p.name != "report")
    baselines = [b for b in benches if b.startswith("baseline") or b in ("certgate_no_crl", "cold_verify")]
    for bench in benches:
        if bench in baselines:
            continue
        value = median_ns(group, bench)
        for base in baselines:
            ref = median_ns(group, base)
            ratio = f"{value / ref:.2f}x" if value and ref else "-"
            diff = f"{value - ref:+.0f} ns" if value and ref else "-"
            rows.append((group, bench, fmt(value), base, fmt(ref), ratio, diff))
        if not baselines:
            rows.append((group, bench, fmt(value), "-", "-", "-", "-"))

print("| group | certgate | median | baseline | median | ratio | difference |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for row in rows:
    print("| " + " | ".join(row) + " |")
