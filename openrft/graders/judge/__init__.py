"""The judge of the model graders: any OpenAI-compatible Chat Completions endpoint (G6).

    client       JudgeClient: concurrency, retries, the structured-output fallback, caching
    settings     JudgeSettings: where the judge is and how hard to push it (`OPENRFT_JUDGE_*`)
    budget       JudgeBudget: a cap on the judge tokens of a run or a whole job
    wire         the request and reply shapes (`response_format`, the fallback body, JudgeReply)
    http         what a failed request means: retry (after how long), fall back or give up
    loop         the SDK client and semaphore of one event loop
    cache        answers in memory; disk_cache: answers in a SQLite file

Nothing here imports the openai SDK until a request is sent.
"""

from openrft.graders.judge.budget import EXTRAS_KEY, JudgeBudget
from openrft.graders.judge.client import PROJECT_HEADER, JudgeClient, JudgeServerError, judge_of
from openrft.graders.judge.settings import JudgeSettings

__all__ = [
    "EXTRAS_KEY",
    "PROJECT_HEADER",
    "JudgeBudget",
    "JudgeClient",
    "JudgeServerError",
    "JudgeSettings",
    "judge_of",
]
