"""`make bench`: the project against plain baselines on a generated purchase log, in one run.

Every contender runs in a fresh process; its time is measured around the work itself and its peak
memory is the process's maximum resident set size. The figures are printed as a Markdown table
and written to <LIFECYCLE_HOME>/bench/results.md, from where they are copied into the README.

`make bench ARGS="--rows 100000000"` is the large mode: the same contenders on a log of that many
lines, except the pandas baselines, which hold the whole file in memory; the project's memory stays
bounded by its DuckDB limits, which spill to disk. Each scratch home is removed once its last
contender has run, and the run stops before it starts when the disk cannot hold it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from common.config import outputs_home

REPO = Path(__file__).resolve().parent.parent

# (contender, what it is, which home it works in)
PLAN = [
    ("duckdb_read_csv", "DuckDB read_csv of the file (floor)", "floor"),
    ("pandas_read_csv", "pandas.read_csv of the file", "floor"),
    ("project_ingest", "project: load purchases (typing, quarantine, audit)", "staged"),
    ("duckdb_customer_group_by", "DuckDB group-by per customer over the file (floor)", "floor"),
    # the backtest first: production (clv_model) runs the model its scorecard chose
    ("project_clv_backtest", "project: CLV backtest of the three candidate models (fits with a holdout, scores)", "staged"),
    ("project_customer_value", "project: purchase days + RFM + CLV assets (the chosen model's fit and predictions)", "staged"),
    ("project_model_fits", "project: the three candidate models fitted on the full history", "staged"),
    ("pandas_lifetimes", "pandas + lifetimes script (summary, BG/NBD, Gamma-Gamma, CLV)", "floor"),
    ("duckdb_purchases_pass", "DuckDB one pass over purchases (floor)", "staged"),
    ("project_chain_labels", "project: chain labels (purchase_chains)", "staged"),
    ("project_chains", "project: all four chain assets", "staged"),
    ("project_whole_graph", "project: whole graph, fresh warehouse", "fresh"),
    ("spark_whole_graph", "project: whole graph on engine: spark, local[*], 4 GB driver (peak: Python + JVM)", "fresh_spark"),
]

SAME_OUTPUTS_LABEL = "the same script, carried on to the project's other RFM and CLV columns"

# (target, the project's contender, its baseline, the largest allowed time ratio project / baseline,
# or None for a ratio shown for context only)
TARGETS = [
    ("ingestion within 3x of DuckDB read_csv", "project_ingest", "duckdb_read_csv", 3.0),
    ("RFM+CLV within 4x of one DuckDB group-by", "project_customer_value", "duckdb_customer_group_by", 4.0),
    ("RFM+CLV at least 10x faster than pandas+lifetimes", "project_customer_value", "pandas_lifetimes", 1 / 10),
    ("RFM+CLV at least 15x faster than pandas+lifetimes (issue 17)", "project_customer_value", "pandas_lifetimes", 1 / 15),
    ("RFM+CLV within 2.5x of one DuckDB group-by (issue 17)", "project_customer_value", "duckdb_customer_group_by", 2.5),
    ("RFM+CLV against the script giving the same columns", "project_customer_value",
     "pandas_lifetimes_same_outputs", None),
    ("chain labels within 3x of one DuckDB pass", "project_chain_labels", "duckdb_purchases_pass", 3.0),
    ("all chain assets within 4x of one DuckDB pass", "project_chains", "duckdb_purchases_pass", 4.0),
]
MEMORY_TARGETS = {"project_ingest": 2048, "project_customer_value": 1536, "project_whole_graph": 2048}
# The whole night at the default size: every asset step and every contract check, summed.
WHOLE_GRAPH_TARGET = (10_000_000, 120.0)

# Baselines that read the whole log into pandas (4 GB at 10M lines): left out of larger runs.
IN_MEMORY_CONTENDERS = ("pandas_read_csv", "pandas_lifetimes")
IN_MEMORY_MAX_ROWS = 20_000_000
# Disk a run takes per purchase line, from the 10M-line runs (CSV 0.73 GB, the homes' warehouses and
# the published night 8.3 GB), with room for DuckDB's spill files: checked before a run starts.
DISK_BYTES_PER_ROW = 1_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--skip", nargs="*", default=[], help="contenders to leave out, e.g. pandas_lifetimes")
    parser.add_argument("--only", nargs="*", default=[], help="the contenders to run, e.g. project_whole_graph")
    args = parser.parse_args()
    plan = chosen(args.rows, args.only, args.skip)

    bench = outputs_home() / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    csv = bench / f"purchases_{args.rows}.csv"
    check_disk(bench, args.rows, csv)
    if not csv.exists():
        print(f"generating {args.rows:,} purchase lines into {csv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "generator", "--rows", str(args.rows), "--out", str(csv)], check=True)
    config = write_config(bench, csv)
    homes = {name: bench / f"home_{name}" for name in ("floor", "staged", "fresh", "fresh_spark")}
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
    last_use = {home: name for name, _, home in plan}

    results = {}
    for name, label, home in plan:
        print(f"running {name} ...", flush=True)
        results[name] = {"label": label, **measure(name, config, homes[home], csv)}
        if last_use[home] == name and home != "fresh":  # the fresh home keeps the night it published
            shutil.rmtree(homes[home])
        if name == "spark_whole_graph":  # Spark's JVM is a process of its own: its peak counts too
            results[name]["peak_mb"] += results[name]["jvm_peak_mb"]
        print(f"  {results[name]['seconds']:.1f} s, peak {results[name]['peak_mb']:,.0f} MB", flush=True)
        if name == "pandas_lifetimes":  # the same run, timed on to the project's full set of outputs
            results["pandas_lifetimes_same_outputs"] = {
                "label": SAME_OUTPUTS_LABEL,
                "seconds": results[name]["same_outputs_seconds"],
                "peak_mb": results[name]["peak_mb"],
            }
        if name == "project_whole_graph":  # the night as a whole: its checks are steps of it too
            graph = results[name]
            results["project_whole_graph_with_checks"] = {
                "label": f"project: whole graph, asset steps and the {len(graph['check_steps'])} contract-check steps",
                "seconds": graph["seconds"] + graph["check_seconds"],
                "peak_mb": graph["peak_mb"],
            }
        if name == "project_model_fits":  # each candidate's fit on its own row
            fits = results[name]
            for model, seconds in fits["fit_seconds"].items():
                results[f"fit_{model}"] = {
                    "label": f"project: {model} fit alone ({fits['customers']:,} customers, "
                             f"{fits['distinct_rows']:,} distinct rows)",
                    "seconds": seconds,
                    "peak_mb": fits["peak_mb"],
                }

    report = render(args.rows, csv, results)
    (bench / "results.md").write_text(report)
    (bench / "results.json").write_text(json.dumps(results, indent=2))
    print("\n" + report)
    return 0


def chosen(rows: int, only: list[str], skip: list[str]) -> list[tuple[str, str, str]]:
    """The contenders of this run, in the plan's order."""
    unknown = set(only + skip) - {name for name, _, _ in PLAN}
    if unknown:
        raise SystemExit(f"no contender named {', '.join(sorted(unknown))}; the contenders: {', '.join(n for n, _, _ in PLAN)}")
    plan = [entry for entry in PLAN if (not only or entry[0] in only) and entry[0] not in skip]
    if rows > IN_MEMORY_MAX_ROWS:
        left_out = [name for name, _, _ in plan if name in IN_MEMORY_CONTENDERS]
        if left_out:
            print(f"left out at {rows:,} lines (they hold the whole log in memory): {', '.join(left_out)}")
        plan = [entry for entry in plan if entry[0] not in IN_MEMORY_CONTENDERS]
    return plan


def check_disk(bench: Path, rows: int, csv: Path) -> None:
    """Stop before generating or loading anything when the disk under `bench` cannot hold the run."""
    needed = rows * DISK_BYTES_PER_ROW - (csv.stat().st_size if csv.exists() else 0)
    free = shutil.disk_usage(bench).free
    if needed > free:
        raise SystemExit(
            f"{rows:,} lines need about {needed / 1e9:,.0f} GB of disk under {bench} (the log, the warehouses and "
            f"the published night; about {DISK_BYTES_PER_ROW / 1e3:g} GB per million lines), and {free / 1e9:,.0f} GB "
            f"are free: set LIFECYCLE_HOME to a larger disk, or run fewer lines"
        )


def write_config(bench: Path, csv: Path) -> Path:
    config = bench / "bench.yaml"
    columns = {"order_ts": "order_date", "product_id": "sku", "quantity": "qty", "store_id": "store"}
    settings = {"sources": {"purchases": {"path": str(csv), "return_order_prefix": "R-", "columns": columns}}}
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    return config


def measure(name: str, config: Path, home: Path, csv: Path) -> dict:
    """Run one contender in its own process; add its peak resident memory to what it reports."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.measure", name, str(config), str(home), str(csv)],
        stdout=subprocess.PIPE, cwd=REPO, text=True,
        env={**os.environ, "LIFECYCLE_HOME": str(home)},
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {process.returncode}")
    measured = json.loads(output.strip().splitlines()[-1])
    return {**measured, "peak_mb": usage.ru_maxrss / 1024, "process_seconds": time.perf_counter() - started}


def render(rows: int, csv: Path, results: dict) -> str:
    size_mb = csv.stat().st_size / 1e6
    lines = [
        f"Purchase log: {rows:,} lines ({size_mb:,.0f} MB CSV), {os.cpu_count()} cores.",
        "",
        "| contender | seconds | rows/s | peak memory (MB) |",
        "|---|---:|---:|---:|",
    ]
    for name, result in results.items():
        rate = f"{result['rows'] / result['seconds']:,.0f}" if result.get("rows") else ""
        lines.append(f"| {result['label']} | {result['seconds']:.1f} | {rate} | {result['peak_mb']:,.0f} |")
    lines += ["", "| target | measured | verdict |", "|---|---:|---|"]
    for label, numerator, denominator, limit in TARGETS:
        if numerator in results and denominator in results:
            ratio = results[numerator]["seconds"] / results[denominator]["seconds"]
            shown = f"{ratio:.2f}x the time" if ratio >= 1 else f"{1 / ratio:.1f}x faster"
            verdict = "context, no target" if limit is None else "met" if ratio <= limit else "NOT met"
            lines.append(f"| {label} | {shown} | {verdict} |")
    target_rows, target_seconds = WHOLE_GRAPH_TARGET
    if rows == target_rows and "project_whole_graph_with_checks" in results:
        seconds = results["project_whole_graph_with_checks"]["seconds"]
        lines.append(
            f"| whole graph with its checks within {target_seconds:.0f} s | {seconds:.1f} s | "
            f"{'met' if seconds <= target_seconds else 'NOT met'} |"
        )
    for name, limit_mb in MEMORY_TARGETS.items():
        if name in results:
            peak = results[name]["peak_mb"]
            lines.append(
                f"| {results[name]['label']} under {limit_mb:,} MB | {peak:,.0f} MB | "
                f"{'met' if peak <= limit_mb else 'NOT met'} |"
            )
    if "project_whole_graph" in results:
        steps = results["project_whole_graph"].get("steps", {})
        lines += ["", "Whole graph, seconds per asset step:", ""]
        lines += [f"- {step}: {seconds:.1f}" for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1])]
        checks = results["project_whole_graph"].get("check_steps", {})
        lines += ["", f"Whole graph, contract checks: {sum(checks.values()):.1f} s in {len(checks)} steps, the largest:", ""]
        lines += [f"- {step}: {seconds:.1f}" for step, seconds in sorted(checks.items(), key=lambda kv: -kv[1])[:8]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
