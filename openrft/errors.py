"""openrft's exceptions, one tree for the whole project.

    OpenRFTError                  base; `status` is the HTTP status the server answers with
    ├── InvalidRequestError       400: a bad request body, parameter or state change
    │   ├── GraderValidationError 400: a grader JSON that does not validate (`param` = JSON path)
    │   ├── DataFileError         400: a JSONL/data file problem, naming the file and line
    │   ├── BudgetExceededError   400: a judge-token budget was used up (the run stops)
    │   ├── SandboxUnavailableError  400: python graders cannot run safely on this host
    │   ├── JobDataError          400: a job's files fail its checks; the job's `error`
    │   │                              (`openrft.jobs.prepare`)
    │   ├── JobFileError          400: a bad `openrft train` job file (`openrft.cli.job_file`)
    │   └── CorruptCheckpoint     400: a checkpoint's files do not match its manifest
    │                                  (`openrft.store.manifest`)
    ├── AuthenticationError       401: no API key, or an unknown one
    ├── NotFoundError             404: an unknown id (or another project's)
    ├── PayloadTooLargeError      413: an upload or body over its cap
    ├── ServiceUnavailableError   503: overloaded (serving queue full) or the model process died
    ├── DiskFullError             507: no space left under OPENRFT_HOME (`code` = disk_full)
    ├── GraderErrorRate           500: too many grader errors in a step fail the job (J6;
    │                                  `openrft.train.rewards`)
    └── ToolErrorRate             500: too many agentic episodes dropped in a step (their
                                       tool servers kept failing; J7, `openrft.train.rewards`)

A grading failure is *not* an exception: graders return their failure as error flags beside
the reward (see `openrft.graders.result`); the exceptions graders raise inside themselves
(a template variable that does not resolve, a formula's math error, a judge that cannot be
reached) are caught there and become those flags. Exceptions are for requests that cannot be
served at all. The server turns them into OpenAI's error body at its edge, the CLI into one
line. `tests/test_exceptions.py` checks that every exception class in openrft is in this tree
or on its short list of internal signals.
"""

from __future__ import annotations


class OpenRFTError(Exception):
    """Base class: a message for a person, plus OpenAI's error `type`, `param` and `code`."""

    status = 500
    type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def to_body(self) -> dict[str, dict[str, str | None]]:
        """OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(OpenRFTError):
    status = 400
    type = "invalid_request_error"


class GraderValidationError(InvalidRequestError):
    """A grader that does not validate; `param` is the JSON path of the first problem."""


class DataFileError(InvalidRequestError):
    """A data file problem. `path` and `line` (1-based, or None for the whole file) locate it."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        code: str | None = None,
    ):
        where = path or "input"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {reason}", code=code or "invalid_file")
        self.reason = reason
        self.path = path
        self.line = line


class AuthenticationError(OpenRFTError):
    status = 401
    type = "invalid_request_error"


class NotFoundError(OpenRFTError):
    status = 404
    type = "invalid_request_error"


class PayloadTooLargeError(OpenRFTError):
    status = 413
    type = "invalid_request_error"


class ServiceUnavailableError(OpenRFTError):
    """503, as OpenAI answers when it is overloaded: the request was fine, retry it later
    (the SDK retries 503 with backoff by itself)."""

    status = 503


class DiskFullError(OpenRFTError):
    """The disk under `OPENRFT_HOME` is full (ENOSPC, EDQUOT, SQLite's SQLITE_FULL): nothing of
    the request was stored. 507 Insufficient Storage, so a client can tell it from a crash."""

    status = 507

    def __init__(self, message: str | None = None):
        super().__init__(
            message
            or "No space left on the server's disk: nothing was stored. "
            "Free space under OPENRFT_HOME and retry.",
            code="disk_full",
        )


class BudgetExceededError(InvalidRequestError):
    """The judge-token budget of a grading run or job is used up."""


class SandboxUnavailableError(InvalidRequestError):
    """No sandbox tier that is strong enough is available; the message says what to install."""
