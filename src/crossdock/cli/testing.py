"""``crossdock test CONFIG``: run the mapping test cases next to a configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from crossdock.cli.common import JsonOption, err, fail, out, print_json, read_config
from crossdock.core.errors import ConfigError

if TYPE_CHECKING:  # imported where used: `crossdock --help` need not load the mapping engine
    from crossdock.config.cases import TestCase
    from crossdock.runtime.cases import CaseResult


def run_tests(
    config: Annotated[
        Path, typer.Argument(help="Configuration file, or folder of *.yaml / *.yml files.")
    ],
    cases: Annotated[
        list[Path] | None,
        typer.Option(
            "--cases",
            help="Case files (*.test.yaml) to run instead of those next to the configuration; "
            "repeat for several.",
        ),
    ] = None,
    trace: Annotated[
        bool, typer.Option("--trace", help="Show every field's trace for failed cases.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Run mapping test cases: each input through its flow, each result against what the
    case expects. For a configuration file NAME.yaml the cases are NAME.test.yaml and
    NAME.*.test.yaml beside it; for a configuration folder, every *.test.yaml in it and
    in its tests/ subfolder (see docs/mapping.md, "Testing mappings offline").

    Exit status: 0 when every case passes, 1 when one fails or nothing could be tested.
    """
    from crossdock.config.cases import find_case_files, load_cases
    from crossdock.runtime.cases import run_case
    from crossdock.runtime.plan import Plan

    plan = Plan.from_config(read_config(config))
    files = cases if cases else find_case_files(config)
    if not files:
        raise fail(f"no test cases: {_where_cases(config)}")
    try:
        loaded = load_cases(files)
    except ConfigError as exc:
        raise fail(f"invalid test cases:\n{exc}") from None
    results = [run_case(plan, case) for case in loaded]
    failed = [r for r in results if not r.passed]
    if json:
        print_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "cases": [_result_dict(r) for r in results],
            }
        )
    else:
        for result in results:
            _print_result(result, trace=trace)
        summary = f"{len(results)} case{'s' if len(results) != 1 else ''}: "
        summary += f"{len(results) - len(failed)} passed, {len(failed)} failed"
        (err if failed else out).print(f"[bold red]{summary}[/]" if failed else summary)
    if failed:
        raise typer.Exit(1)


def _where_cases(config: Path) -> str:
    """Where `crossdock test` looked for the cases of `config`, for the error message."""
    if config.is_dir():
        return f"looked for *.test.yaml and *.test.yml in {config} and {config / 'tests'}"
    stem = config.name.rsplit(".", 1)[0]
    return (
        f"looked for {stem}.test.yaml and {stem}.*.test.yaml (or .test.yml) beside {config}"
        " (a tests/ folder is read only for a configuration folder)"
    )


def _print_result(result: CaseResult, *, trace: bool) -> None:
    from crossdock.cli.traces import print_changes, print_preview

    case = result.case
    where = escape(_where(case))
    if result.passed:
        out.print(f"[green]PASS[/] {where}  {escape(case.name)}")
        return
    out.print(f"[bold red]FAIL[/] {where}  {escape(case.name)} (flow {escape(case.flow)})")
    for problem in result.problems:
        out.print(f"       {escape(problem)}")
    print_changes(result.changes, "expected → got", "       ")
    if trace and result.outcome is not None:
        print_preview(result.outcome)


def _where(case: TestCase) -> str:
    return f"{case.where.file}:{case.where.line}"


def _result_dict(result: CaseResult) -> dict[str, Any]:
    from crossdock.cli.traces import change_dict, preview_dict

    return {
        "name": result.case.name,
        "flow": result.case.flow,
        "where": _where(result.case),
        "passed": result.passed,
        "problems": list(result.problems),
        "changes": {
            target: [change_dict(c) for c in changes]
            for target, changes in result.changes.items()
            if changes
        },
        "outcome": None if result.outcome is None else preview_dict(result.outcome),
    }


def register(app: typer.Typer) -> None:
    app.command("test")(run_tests)
