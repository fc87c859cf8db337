"""Reading `openrft train`'s job file: every mistake is one line naming the file, the field and
the fix (`JobFileError`, exit 2), found before any model loads.

Paths in the file (`training_file`, `validation_file`, a model directory) are relative to the
file. A model that is neither `openrft-tiny`, a directory nor a name the registry knows must be a
Hugging Face id in the local cache, or (when `HF_HUB_OFFLINE` is not set) one the hub answers
for in a single request: a name that is neither never reaches the download's retries.

The grader is validated here, once, as the API's create route does; the `JobSpec` built from
the file (`openrft.train.spec`, the same contract the server stores) carries it typed to the
trainer, with the fine-tuned model's name computed from the model as the file names it.

The file's spec is remembered in the job's workdir (`job-spec.json`), so a re-run resumes only
the same job: an edited file is refused, naming what changed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from openrft.cli.render import load_json_file
from openrft.errors import DataFileError, InvalidRequestError

_CREATE_KEYS = ["model", "training_file", "validation_file", "method", "seed", "suffix", "id"]
_CREATE_KEYS += ["settings", "metadata", "integrations"]
_OPERATIONAL = {"device", "grader_concurrency", "micro_batch_size", "tool_concurrency"}
_OPERATIONAL |= {"processes", "sharding", "devices"}
"""Settings that change how a job runs, not what it trains: a resume may change them."""
SPEC_FILE = "job-spec.json"
TINY = "openrft-tiny"  # openrft.models.tiny.NAME, without importing torch for it


class JobFileError(InvalidRequestError):
    def __init__(self, path: Path, field: str, problem: str):
        super().__init__(f"{path}: `{field}`: {problem}", param=field, code="invalid_job_file")


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def load_job(path: Path, home: Path | None = None) -> Any:
    """The `JobSpec` for a job file: rows read and checked, ids and defaults filled in."""
    from openrft.train.naming import fine_tuned_name
    from openrft.train.spec import JobSpec

    body = load_json_file(path)
    if not isinstance(body, dict):
        raise DataFileError("a job file is a JSON object (OpenAI's create body)", path=str(path))
    _check_keys(path, body)
    job_id = body.get("id") or "ftjob-" + _sha(str(path.resolve()))[:12]
    name = body.get("model", TINY)
    if not isinstance(name, str) or not name:
        raise JobFileError(path, "model", "a model name or directory (a string)")
    fields = {
        "id": job_id,
        "model": resolve_model(path, name, default_home(home)),
        "training_rows": _rows(path, body, "training_file", "train"),
        "validation_rows": _rows(path, body, "validation_file", "valid"),
        "method": _with_grader(path, body["method"]),
        "seed": body.get("seed") or 0,
        "suffix": body.get("suffix"),
        "settings": _with_eval_grader(path, body.get("settings") or {}),
    }
    try:
        spec = JobSpec.model_validate(fields)
    except ValidationError as exc:
        raise _explain(path, exc) from None
    _check_judge_rows(path, spec)
    _check_row_tools(path, spec)
    # Named from the model as the file gives it, not the directory it resolved to (J4).
    name = fine_tuned_name(name, spec.org, spec.suffix, job_id)
    return spec.model_copy(update={"model_name": name})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_keys(path: Path, body: dict[str, Any]) -> None:
    for key in body:
        if key == "hyperparameters":
            raise JobFileError(path, key, "move it into `method.reinforcement.hyperparameters`")
        if key not in _CREATE_KEYS:
            raise JobFileError(path, key, f"unknown field{did_you_mean(key, _CREATE_KEYS)}")
    for key, example in (("training_file", '"train.jsonl"'), ("method", _METHOD_EXAMPLE)):
        if key not in body:
            raise JobFileError(path, key, f'missing; add `"{key}": {example}`')


_METHOD_EXAMPLE = '{"type": "reinforcement", "reinforcement": {"grader": {...}}}'


def _rows(
    path: Path, body: dict[str, Any], key: str, split: Literal["train", "valid"]
) -> list[Any] | None:
    from openrft.data.validate import validate_file

    value = body.get(key)
    if value is None and key == "validation_file":
        return None
    if not isinstance(value, str) or not value:
        raise JobFileError(path, key, "a JSONL file path, relative to the job file")
    file = path.parent / value
    if not file.is_file():
        raise JobFileError(path, key, f"no such file {file} (paths are relative to the job file)")
    return list(validate_file(file, split=split))


def _explain(path: Path, exc: ValidationError) -> JobFileError:
    """The first pydantic error as one line: the field's dotted path, what is wrong, the fix."""
    from openrft.train.spec import JobSpec

    errors = exc.errors()
    error = next((e for e in errors if e["loc"][:2] == ("method", "type")), errors[0])
    if str(error["loc"][-1]).startswith("literal["):  # "auto" or a number: the number's reason
        same = (e for e in errors if e["loc"][:-1] == error["loc"][:-1] and e is not error)
        error = next(same, error)
    loc, model = _field_path(JobSpec, error["loc"])
    field = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden":
        known = list(model.model_fields) if model else []
        return JobFileError(path, field, f"unknown field{did_you_mean(str(loc[-1]), known)}")
    if field == "method.type":
        return JobFileError(
            path,
            field,
            f"{error['input']!r} is not supported: `openrft train` runs reinforcement "
            'fine-tuning only; set "type": "reinforcement" and put the grader in '
            "`method.reinforcement.grader`",
        )
    if field == "method.reinforcement":
        return JobFileError(path, field, f"{error['msg']}; give {_METHOD_EXAMPLE}")
    got = "" if error["type"] == "missing" else f" (got {json.dumps(error['input'])})"
    return JobFileError(path, field, f"{error['msg']}{got}")


def _field_path(
    model: type[BaseModel], loc: tuple[Any, ...]
) -> tuple[list[Any], type[BaseModel] | None]:
    """`loc` without pydantic's union-member names, and the model holding its last field."""
    kept: list[Any] = []
    for part in loc:
        kept.append(part)
        field = model.model_fields.get(str(part))
        inner = field.annotation if field else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            break
        model = inner
    return [_rename(p) for p in kept], model


def _rename(part: Any) -> Any:
    renames = {"training_rows": "training_file", "validation_rows": "validation_file"}
    return renames.get(part, part)


def _with_grader(path: Path, method: Any) -> Any:
    """`method` with its grader validated and typed: the one check a job's grader gets (the
    rest of `method` is checked with the spec, `_explain` saying what is wrong)."""
    from openrft.graders import validate_grader

    reinforcement = method.get("reinforcement") if isinstance(method, dict) else None
    if not isinstance(reinforcement, dict) or "grader" not in reinforcement:
        return method
    try:
        grader = validate_grader(reinforcement["grader"], for_training=True)
    except InvalidRequestError as exc:
        raise JobFileError(path, "method.reinforcement.grader", exc.message) from None
    return {
        **method,
        "reinforcement": {**reinforcement, "grader": grader, **_tools(path, reinforcement)},
    }


def _tools(path: Path, reinforcement: dict[str, Any]) -> dict[str, Any]:
    """An agentic job's tools, checked as the API checks them (`parse_tools`: the allow-list,
    names, headers; messages never quote a header's value)."""
    from openrft.train.tools import check_tools_format, parse_tools

    if reinforcement.get("tools") is None:
        return {"tools": []} if "tools" in reinforcement else {}
    try:
        tools = parse_tools(reinforcement["tools"])
        check_tools_format(
            tools, reinforcement.get("response_format"), "method.reinforcement.response_format"
        )
    except InvalidRequestError as exc:
        raise JobFileError(path, exc.param or "method.reinforcement.tools", exc.message) from None
    return {"tools": tools}


def _with_eval_grader(path: Path, settings: Any) -> Any:
    """`settings` with its `eval_grader` validated and typed, as the job's grader is."""
    from openrft.graders import validate_grader

    if isinstance(settings, dict) and settings.get("devices") is not None:
        raise JobFileError(
            path,
            "settings.devices",
            "the server's worker picks a job's GPUs; with `openrft "
            "train`, set CUDA_VISIBLE_DEVICES (and run it under torchrun for several)",
        )
    if not isinstance(settings, dict) or settings.get("eval_grader") is None:
        return settings
    try:
        grader = validate_grader(settings["eval_grader"], for_training=True)
    except InvalidRequestError as exc:
        raise JobFileError(path, "settings.eval_grader", exc.message) from None
    return {**settings, "eval_grader": grader}


def _check_judge_rows(path: Path, spec: Any) -> None:
    """`settings.judge_check`'s rows against the job's grader, as the API checks them."""
    from openrft.train.judge_gate import validate

    try:
        validate(spec.settings.judge_check, spec.reinforcement.grader)
    except InvalidRequestError as exc:
        raise JobFileError(path, exc.param or "settings.judge_check", exc.message) from None


def _check_row_tools(path: Path, spec: Any) -> None:
    """In a job with tools, every function a row offers must be one the job serves."""
    from openrft.train.tools import unserved_tool

    for key, rows in (
        ("training_file", spec.training_rows),
        ("validation_file", spec.validation_rows),
    ):
        problem = unserved_tool(spec.reinforcement.tools, list(enumerate(rows or [], 1)))
        if problem:
            raise JobFileError(path, key, problem.replace("line ", "row ", 1))


def resolve_model(path: Path, name: str, home: Path) -> str:
    """`name` as run_job loads it: a path relative to the job file becomes absolute; any
    other name must be one the registry finds (its hub lookup asks the cache first, and the
    hub once, only when online)."""
    if name == TINY:
        return name
    local = (path.parent / Path(name).expanduser()).absolute()
    if local.exists():
        return str(local)
    if name.startswith((".", "/", "~")) or Path(name).exists():  # a path, but not from here
        raise JobFileError(path, "model", f"no such path {local} (relative to the job file)")
    from openrft.models.registry import resolve_path

    try:
        resolve_path(name, home)
    except InvalidRequestError as exc:
        raise JobFileError(path, "model", exc.message) from None
    return name


def fingerprint(spec: Any) -> dict[str, Any]:
    """What a job trains: a re-run with a different fingerprint is a different job."""
    settings = {k: v for k, v in spec.settings.model_dump().items() if k not in _OPERATIONAL}
    return {
        "model": spec.model,
        "training_file": _digest(spec.training_rows),
        "validation_file": _digest(spec.validation_rows),
        "method": _method_print(spec),
        "seed": spec.seed,
        "suffix": spec.suffix,
        "settings": settings,
    }


def _method_print(spec: Any) -> dict[str, Any]:
    """The stored method, with every hyperparameter (a default spelled out or not is one job)."""
    method: dict[str, Any] = spec.method.to_json()
    method["reinforcement"]["hyperparameters"] = spec.reinforcement.hyperparameters.model_dump()
    return method


def _digest(rows: Any) -> str | None:
    return None if rows is None else "sha256:" + _sha(json.dumps(rows, sort_keys=True))


def check_same_job(path: Path, spec: Any, workdir: Path) -> None:
    """Remember the spec on the first run; refuse a re-run whose file now says otherwise."""
    saved = workdir / SPEC_FILE
    now = fingerprint(spec)
    if not saved.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(now, indent=1, sort_keys=True))
        return
    before = json.loads(saved.read_text())
    changed = sorted(set(_flat(before).items()) ^ set(_flat(now).items()))
    if changed:
        fields = ", ".join(dict.fromkeys(f"`{key}`" for key, _ in changed))
        raise InvalidRequestError(
            f"{path}: changed since job {spec.id} started ({fields}); a re-run only resumes "
            f'the same job. Give the file a new `"id"` to start a new job, or delete '
            f"{workdir} to start this one over",
            param=changed[0][0],
            code="job_file_changed",
        )


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, inner in value.items():
            out |= _flat(inner, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: json.dumps(value, sort_keys=True)}


def default_home(home: Path | None) -> Path:
    return home or Path(os.environ.get("OPENRFT_HOME", ".openrft"))
