"""The python-grader runtime is OpenAI's `2025-05-08` image: its packages at their pinned
versions and its nltk corpora, inside the real sandbox, offline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openrft.graders import GraderContext, Sample
from openrft.graders.python import agrade
from openrft.sandbox import SandboxPool, runtimes
from tests.sandbox.helpers import probe, run

TAG = runtimes.DEFAULT_TAG

VERSIONS = """
from importlib import metadata
def probe(item):
    return {name: metadata.version(name) for name in item['names']}
"""

# Each package of the image used for something it alone does; a check that fails names itself.
PACKAGES = """
def probe(item):
    failed = []
    def check(name, fn):
        try:
            if not fn():
                failed.append(name)
        except Exception as exc:
            failed.append(f'{name}: {type(exc).__name__}: {exc}')

    def ast_grep():
        from ast_grep_py import SgRoot
        node = SgRoot('x = foo(1)', 'python').root().find(pattern='foo($A)')
        return node is not None and node.get_match('A').text() == '1'
    def rdkit():
        from rdkit import Chem
        return Chem.MolToSmiles(Chem.MolFromSmiles('C1=CC=CC=C1O')) == 'Oc1ccccc1'
    def skbio():
        from skbio import DNA
        return str(DNA('ACGT').reverse_complement()) == 'ACGT'
    def sklearn():
        from sklearn.linear_model import LinearRegression
        model = LinearRegression().fit([[0], [1], [2]], [1, 3, 5])
        return abs(model.coef_[0] - 2) < 1e-9
    def deepdiff():
        from deepdiff import DeepDiff
        return 'values_changed' in DeepDiff({'a': 1}, {'a': 2})
    def sqlparse():
        import sqlparse
        return sqlparse.parse('select a from t')[0].get_type() == 'SELECT'
    def numeric():
        import numpy, pandas, scipy.stats, sympy
        return (pandas.DataFrame({'x': numpy.arange(4)})['x'].sum() == 6
                and scipy.stats.norm.cdf(0) == 0.5 and sympy.sqrt(16) == 4)
    def text():
        import jsonschema, pydantic, rapidfuzz.fuzz, yaml
        from rouge_score import rouge_scorer
        jsonschema.validate({'a': 1}, {'type': 'object'})
        class M(pydantic.BaseModel):
            a: int
        return (M(a='1').a == 1 and yaml.safe_load('a: 1') == {'a': 1}
                and rapidfuzz.fuzz.ratio('abc', 'abc') == 100
                and rouge_scorer.RougeScorer(['rouge1']).score('a b', 'a b')['rouge1'].fmeasure == 1)
    for name, fn in [('ast_grep_py', ast_grep), ('rdkit', rdkit), ('skbio', skbio),
                     ('sklearn', sklearn), ('deepdiff', deepdiff), ('sqlparse', sqlparse),
                     ('numpy/pandas/scipy/sympy', numeric), ('text packages', text)]:
        check(name, fn)
    return failed
"""

CORPORA = """
import nltk
def probe(item):
    from nltk.corpus import stopwords, wordnet
    found = {}
    for path in item['paths']:
        try:
            nltk.data.find(path)
            found[path] = True
        except LookupError:
            found[path] = False
    return {
        'found': found,
        'tokens': nltk.word_tokenize("Dr. Smith isn't here. He left."),
        'sentences': len(nltk.sent_tokenize("Dr. Smith isn't here. He left.")),
        'pickle_name': type(nltk.data.load('tokenizers/punkt/english.pickle')).__name__,
        'stop': 'the' in stopwords.words('english') and 'le' in stopwords.words('french'),
        'dog': wordnet.synsets('dog')[0].name(),
        'chien': 'chien' in wordnet.synset('dog.n.01').lemma_names('fra'),
        'langs': len(wordnet.langs()) > 20,
    }
"""


@pytest.fixture
async def pool() -> AsyncIterator[SandboxPool]:
    sandbox = SandboxPool(1)  # default limits: rdkit + scikit-bio + sklearn need the headroom
    yield sandbox
    await sandbox.aclose()


def test_the_runtime_is_built() -> None:
    assert runtimes.find(TAG) is not None, runtimes.missing_message(TAG)


async def test_every_package_is_installed_at_its_pinned_version(pool: SandboxPool) -> None:
    pins = runtimes.pins(TAG)
    seen = await probe(pool, VERSIONS, {"names": list(pins)}, timeout=60)
    assert seen == pins


@pytest.mark.slow
async def test_each_package_of_the_image_works_inside(pool: SandboxPool) -> None:
    assert await probe(pool, PACKAGES, timeout=120) == []


async def test_the_nltk_corpora_are_there_offline(pool: SandboxPool) -> None:
    paths = [corpus.path for corpus in runtimes.corpora(TAG)]
    seen = await probe(pool, CORPORA, {"paths": paths}, timeout=60)
    assert seen.pop("found") == dict.fromkeys(paths, True)
    assert seen == {
        "tokens": ["Dr.", "Smith", "is", "n't", "here", ".", "He", "left", "."],
        "sentences": 2,
        "pickle_name": "PunktTokenizer",  # nltk 3.9 reads punkt_tab, never the pickle
        "stop": True,
        "dog": "dog.n.01",
        "chien": True,
        "langs": True,
    }


# A grader in the shape of the Runloop case in OpenAI's RFT use-case guide
# (https://developers.openai.com/api/docs/guides/rft-use-cases): the model writes code against
# an SDK and a python grader parses it with ast-grep (`ast_grep_py`, in OpenAI's image) to score
# whether the required calls are made. On the server interpreter this was a load_error.
AST_GREP_GRADER = """
from ast_grep_py import SgRoot

def grade(sample, item):
    code = sample["output_text"]
    if "```" in code:
        code = code.split("```")[1].removeprefix("typescript").removeprefix("ts")
    root = SgRoot(code, "typescript").root()
    required = item["required_calls"]
    found = sum(1 for call in required if root.find(pattern=call + "($$$ARGS)") is not None)
    return found / len(required)
"""


async def test_a_published_ast_grep_grader_loads_and_scores() -> None:
    code = (
        "```typescript\nconst customer = await stripe.customers.create({email});\n"
        "await stripe.subscriptions.create({customer: customer.id});\n```"
    )
    item = {"required_calls": ["stripe.customers.create", "stripe.subscriptions.create"]}
    context = GraderContext(sandbox=SandboxPool(1), python_timeout=60)
    try:
        full = await agrade(_Spec(AST_GREP_GRADER), Sample.from_text(code), item, context)
        only_one = "```ts\nawait stripe.customers.create({email});\n```"
        half = await agrade(_Spec(AST_GREP_GRADER), Sample.from_text(only_one), item, context)
    finally:
        await context.aclose()
    assert (full.reward, full.errors) == (1.0, None)
    assert half.reward == 0.5


async def test_a_runtime_that_was_never_built_is_a_server_error_saying_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRFT_GRADER_RUNTIMES", str(tmp_path))
    async with SandboxPool(1) as pool:
        verdict = await run(pool, "def grade(s, i):\n    return 1.0\n")
    assert verdict.reason == "runtime_unavailable" and verdict.server_error
    assert "make venv" in verdict.detail and str(tmp_path) in verdict.detail


class _Spec:
    name = "python"
    image_tag = TAG

    def __init__(self, source: str) -> None:
        self.source = source
