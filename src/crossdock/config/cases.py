"""Mapping test cases: files of sample inputs and the bodies each target should receive.

Cases live next to the configuration in ``*.test.yaml`` (or ``*.test.yml``) files. For a
configuration file ``NAME.yaml``: ``NAME.test.yaml`` and ``NAME.*.test.yaml`` beside it
(so several configurations can share a folder). For a configuration folder: every case
file in it and in its ``tests/`` subfolder; a folder configuration never reads them as
configuration.

    cases:
      - name: a paid express order reaches the ERP
        flow: orders
        input: {order: {id: A-1, status: paid, shipping: express}}
        expect:
          erp: {reference: A-1, shipping: EXP}
        match: subset            # expected fields must match; others may be there too

A case gives its body inline (`input`) or as a JSON file (`input_file`, relative to the
case file), and exactly one expectation: `expect` (the bodies per target; exactly these
targets receive the message), `filtered: true`, or `error` (text the mapping error
contains). `load_cases` reports every problem with its file and line, like the loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import Field, ValidationError, model_validator

from crossdock.config._problems import problems_from_errors
from crossdock.config._yaml import Position, parse_yaml, problem_at
from crossdock.config.types import ConfigModel, Name
from crossdock.core.envelope import JSON
from crossdock.core.errors import ConfigError, ConfigProblem

SUFFIXES = (".test.yaml", ".test.yml")
"""Names ending so are test-case files, never configuration."""

_MAX_INPUT_BYTES = 16 * 1024 * 1024


class CaseSpec(ConfigModel):
    """One test case as written."""

    name: str = Field(min_length=1, description="What the case shows; printed in reports.")
    flow: Name = Field(description="The flow the input goes through.")
    input: Any = Field(default=None, description="The received body, written in YAML.")
    input_file: str | None = Field(
        default=None, description="The received body as a JSON file, relative to this file."
    )
    source: Name | None = Field(
        default=None,
        description="The source endpoint the input comes from (default: the flow's first); "
        "its to_canonical mapping applies.",
    )
    target: Name | None = Field(
        default=None, description="Check only this target endpoint of the flow."
    )
    expect: dict[Name, Any] | None = Field(
        default=None,
        description="Body per target endpoint; exactly these targets must receive one.",
    )
    filtered: bool | None = Field(
        default=None, description="true: the flow's conditions or routes let nothing through."
    )
    error: str | None = Field(
        default=None, min_length=1, description="Text the mapping error must contain."
    )
    match: Literal["exact", "subset"] = Field(
        default="exact",
        description="exact: bodies equal `expect`; subset: `expect`'s fields match, "
        "others may be present.",
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> CaseSpec:
        given = self.model_fields_set
        if ("input" in given) == ("input_file" in given):
            raise ValueError("give exactly one of input and input_file")
        expectations = [k for k in ("expect", "filtered", "error") if k in given]
        if len(expectations) != 1:
            raise ValueError("give exactly one of expect, filtered and error")
        if self.filtered is False:
            raise ValueError("filtered: false says nothing; give expect instead")
        return self


class CaseFile(ConfigModel):
    cases: list[CaseSpec] = Field(min_length=1, description="The test cases of this file.")


@dataclass(frozen=True, slots=True)
class TestCase:
    """A loaded case: its body read, and where it was written (``file:line:column``)."""

    __test__ = False  # not a pytest class

    name: str
    flow: str
    body: JSON
    where: Position
    source: str | None = None
    target: str | None = None
    expect: dict[str, JSON] | None = None
    filtered: bool = False
    error: str | None = None
    subset: bool = False


def find_case_files(config: Path) -> list[Path]:
    """The case files of the configuration at `config` (a file or a folder)."""
    if not config.is_dir():
        stem = config.name.rsplit(".", 1)[0]
        return sorted(
            p
            for p in config.parent.iterdir()
            if is_case_file(p) and (_case_stem(p) == stem or _case_stem(p).startswith(stem + "."))
        )
    found: list[Path] = []
    for place in (config, config / "tests"):
        if place.is_dir():
            found += sorted(p for p in place.iterdir() if is_case_file(p))
    return found


def _case_stem(path: Path) -> str:
    """``orders.gold`` for ``orders.gold.test.yaml``."""
    return path.name.rsplit(".", 2)[0]


def is_case_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES) and not path.name.startswith(".") and path.is_file()


def load_cases(files: list[Path]) -> list[TestCase]:
    """Every case of `files`, in order; `ConfigError` with every problem found."""
    cases: list[TestCase] = []
    problems: list[ConfigProblem] = []
    for file in files:
        found, trouble = _load_file(file)
        cases += found
        problems += trouble
    if problems:
        raise ConfigError(problems)
    return cases


def _load_file(file: Path) -> tuple[list[TestCase], list[ConfigProblem]]:
    parsed = parse_yaml(file, str(file))
    if parsed.data is None or parsed.problems:
        return [], parsed.problems
    try:
        spec = CaseFile.model_validate(parsed.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        return [], problems_from_errors(errors, parsed.data, parsed.entries)
    cases: list[TestCase] = []
    problems: list[ConfigProblem] = []
    for index, case in enumerate(spec.cases):
        where = parsed.entries[("cases", index)].value
        body = case.input
        if case.input_file is not None:
            entry = parsed.entries[("cases", index, "input_file")].value
            try:
                body = _read_json(file.parent / case.input_file)
            except ValueError as exc:
                problems.append(problem_at(f"cases[{index}].input_file", str(exc), entry))
                continue
        cases.append(
            TestCase(
                name=case.name,
                flow=case.flow,
                body=body,
                where=where,
                source=case.source,
                target=case.target,
                expect=case.expect,
                filtered=bool(case.filtered),
                error=case.error,
                subset=case.match == "subset",
            )
        )
    return cases, problems


def _read_json(path: Path) -> JSON:
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > _MAX_INPUT_BYTES:
        raise ValueError(f"{path} is larger than {_MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
