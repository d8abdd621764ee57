"""Screen a class for copied code, the way MOSS does: normalised token fingerprints, winnowed.

Each question file is split into tokens with Python's ``tokenize`` and normalised so that a copy cannot hide behind
cosmetics: comments, docstrings, blank lines and statements that do nothing (``pass``, ``...``, a bare constant or
name) are dropped, and so are parentheses that only group and trailing commas; every identifier becomes one
placeholder (renaming variables changes nothing), literals become a placeholder per type, while keywords, operators, builtins and attribute
names (``np.outer``, ``keras.layers.Dense``) are kept as written. Every run of ``K`` consecutive tokens (a k-gram) is
hashed (Karp-Rabin over blake2b token codes, so the same across runs and machines) and winnowed with a window of
``W`` hashes (Schleimer, Wilkerson and Aiken, SIGMOD 2003): each window contributes its smallest hash. Any code the
two files share that is at least ``K + W - 1`` tokens long is guaranteed to give both files a common fingerprint, and
matches shorter than ``K`` tokens never do.

Before two submissions are compared, every k-gram of the question's stub (the code every student starts from) is
removed, and, in a class of at least ``MIN_CLASS_FOR_COMMON`` submissions, every k-gram found in more than
``COMMON_FRACTION`` of them or in more than ``COMMON_MAX`` (boilerplate everyone writes the same way). k-grams never
cross from one top-level function into the next, so reordering functions changes nothing. The score of a pair is then
``shared / min(|F_a|, |F_b|)``: the fraction of the smaller submission's own fingerprints found in the other one.
A pair is flagged at ``score >= THRESHOLD`` with at least ``MIN_SHARED`` shared fingerprints. A high score is a
reason to read both files, never proof: the report shows the matching regions side by side for that.

Pairs are found through an inverted index (fingerprint -> submissions holding it), so only pairs that share
something are ever looked at. Nothing here runs student code.

    python -m grader.reporting.similarity OUT_DIR DIR1 DIR2 ...                    # normalised submission directories
    python -m grader.reporting.similarity OUT_DIR --submissions-root SUBMISSIONS   # raw submissions, normalised first
"""

from __future__ import annotations

import argparse
import bisect
import builtins
import hashlib
import io
import itertools
import keyword
import sys
import tempfile
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from token import COMMENT, DEDENT, ENDMARKER, INDENT, NAME, NEWLINE, NL, NUMBER, OP, STRING

from grader import registry
from grader.files import atomic_write_text
from grader.reporting.html import render

STUBS_DIR = registry.REPO / "assignments"

# Measured on the answers in tests/test_similarity.py and variants (k, w = 18, 5): a renamed, respaced copy with
# its functions reordered scores 1.00 (Q2 and Q4); with a few statements also edited, 0.92 (Q2) and 0.85 (Q4);
# independent answers (vectorised against loops) 0.00 (Q2) and 0.06 (Q4); an independent Q2 that uses the
# reference's idioms 0.35 (0.39 at k = 15, 0.48 at k = 12). Code the question dictates scores high anyway: two
# list-style Keras models for Q3 reach 0.69. k = 18 tokens is about two statements, more than one shared idiom
# (``np.asarray(z, dtype=np.float64)`` is 13 tokens); any copied run of k + w - 1 = 22 tokens is seen.
K = 18
W = 5
THRESHOLD = 0.5
MIN_SHARED = 3  # a file with two fingerprints of its own would otherwise reach 1.0 on one coincidence
# A k-gram in more than half of a class of 6+, or in more than COMMON_MAX submissions, is what the question makes
# everyone write (MOSS ignores passages in more than 10 programs by default); a ring of copiers bigger than that
# would vanish too.
COMMON_FRACTION = 0.5
COMMON_MAX = 20
MIN_CLASS_FOR_COMMON = 6

_P = (1 << 61) - 1  # Karp-Rabin modulus (a Mersenne prime) and base
_B = 1_000_003
_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))
_SHIFT = 5  # tokens by which the two sides of one region may drift apart (a small insertion)
_STRUCTURE = frozenset({";", "{", "}"})
_DEFINITION = frozenset({"def", "class", "async", "@"})
_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class",
                       "async", "match", "case"})
_MAX_OCCURRENCES = 4  # per fingerprint and file when pairing positions, so repeated boilerplate cannot blow up


class _Untokenizable(Exception):
    pass


# normalised tokens, the first and last source line of each (None for ; { }), and the first token of each unit
_Normalised = tuple[list[str], list[tuple[int, int] | None], list[int]]


@dataclass
class _Doc:
    """One student's file for one question, fingerprinted."""

    lines: list[str]  # the source, for display
    token_lines: list[tuple[int, int] | None]  # first and last source line of each token (None for ; { })
    kgrams: list[tuple[int, list[int]]]  # per unit: its first token and the hash of each k-gram starting in it
    fingerprints: dict[int, list[int]]  # winnowed hash -> token positions, after filtering
    token_starts: list[int] = field(default_factory=list)  # first line of each token, filled in when needed


def similarity_report(submissions: dict[str, Path], stubs_dir: Path, *, k: int = K, w: int = W,
                      threshold: float = THRESHOLD) -> dict:
    """Compare every pair of submissions, question by question.

    ``submissions`` maps a student id to a normalised submission directory holding ``<stem>.py`` files;
    ``stubs_dir`` holds the stubs ``<stem>.py`` whose code is ignored. Returns a JSON-ready dict::

        {"parameters": {...}, "questions": {stem: {
            "submissions": [ids compared], "missing": [ids], "skipped": {id: reason}, "notes": [...],
            "without_own_code": [ids with nothing left after the stub is removed], "compared": number of pairs,
            "pairs": [{"a", "b", "score", "shared", "a_fraction", "b_fraction", "flagged",
                       "regions": [{"a": [first, last], "b": [first, last], "fingerprints": n}]}]}}}

    ``pairs`` holds every pair sharing at least one fingerprint, highest score first; ``regions`` are worked out
    for flagged pairs only (empty for the others), with 1-based inclusive line numbers. A file that cannot be
    tokenised is listed in ``skipped`` with the reason, never raised.
    """
    return _analyse(submissions, stubs_dir, k, w, threshold)[0]


def _analyse(submissions: dict[str, Path], stubs_dir: Path, k: int = K, w: int = W,
             threshold: float = THRESHOLD) -> tuple[dict, dict[str, dict[str, _Doc]]]:
    """The report, and for each question the fingerprinted files (with their text, for the HTML page)."""
    stubs_dir = Path(stubs_dir)
    questions, docs = {}, {}
    for stem in registry.stems():
        questions[stem], docs[stem] = _question(stem, submissions, stubs_dir, k, w, threshold)
    report = {"parameters": {"k": k, "w": w, "threshold": threshold, "min_shared": MIN_SHARED,
                             "common_fraction": COMMON_FRACTION, "common_max": COMMON_MAX,
                             "min_class_for_common": MIN_CLASS_FOR_COMMON},
              "questions": questions}
    return report, docs


def _question(stem: str, submissions: dict[str, Path], stubs_dir: Path, k: int, w: int,
              threshold: float) -> tuple[dict, dict[str, _Doc]]:
    notes: list[str] = []
    stub: _Stub | None = None
    stub_path = stubs_dir / f"{stem}.py"
    try:
        stub_lines = _decode(stub_path.read_bytes())
        stub = _Stub(stub_lines, *_normalise(stub_lines))
    except FileNotFoundError:
        notes.append(f"no stub {stub_path}: nothing was removed as starter code")
    except (OSError, _Untokenizable) as e:
        notes.append(f"the stub {stub_path} could not be read ({e}): nothing was removed as starter code")
    stub_hashes = set().union(*(hashes for _, hashes in _kgrams(stub.tokens, stub.units, k))) if stub else set()

    docs: dict[str, _Doc] = {}
    missing, skipped = [], {}
    for student in sorted(submissions):
        path = Path(submissions[student]) / f"{stem}.py"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            missing.append(student)
            continue
        except OSError as e:
            skipped[student] = f"cannot be read ({e.strerror or e})"
            continue
        try:
            lines = _decode(data)
            tokens, token_lines, units = _normalise_against(lines, stub)
        except _Untokenizable as e:
            skipped[student] = str(e)
            continue
        docs[student] = _Doc([line.rstrip("\r\n") for line in lines], token_lines, _kgrams(tokens, units, k), {})

    n = len(docs)
    common: set[int] = set()
    if n >= MIN_CLASS_FOR_COMMON:
        counts = Counter()
        for doc in docs.values():
            counts.update(set().union(*(hashes for _, hashes in doc.kgrams)) - stub_hashes)
        limit = min(COMMON_FRACTION * n, COMMON_MAX)
        common = {h for h, c in counts.items() if c > limit}
        if common:
            notes.append(f"{len(common)} k-grams found in more than {limit:g} of the {n} submissions were ignored "
                         f"as common code")
    ignored = stub_hashes | common
    index: dict[int, list[str]] = defaultdict(list)
    for student, doc in docs.items():
        for start, hashes in doc.kgrams:
            for h, pos in _winnow(hashes, w):
                if h not in ignored:
                    doc.fingerprints.setdefault(h, []).append(start + pos)
        for h in doc.fingerprints:
            index[h].append(student)

    shared: Counter[tuple[str, str]] = Counter()
    for holders in index.values():
        if len(holders) > 1:
            shared.update(itertools.combinations(holders, 2))  # holders are in sorted order, so a < b
    pairs = []
    for (a, b), count in shared.items():
        fa, fb = docs[a].fingerprints, docs[b].fingerprints
        score = count / min(len(fa), len(fb))
        flagged = score >= threshold and count >= MIN_SHARED
        pairs.append({"a": a, "b": b, "score": round(score, 4), "shared": count,
                      "a_fraction": round(count / len(fa), 4), "b_fraction": round(count / len(fb), 4),
                      "flagged": flagged, "regions": _regions(docs[a], docs[b], k, w) if flagged else []})
    pairs.sort(key=lambda p: (-p["score"], -p["shared"], p["a"], p["b"]))
    if n < 2:
        notes.append(f"nothing to compare: {n or 'no'} submission{'s' * (n != 1)} with a usable {stem}.py")
    return {"submissions": sorted(docs), "missing": missing, "skipped": skipped, "notes": notes,
            "without_own_code": sorted(s for s, doc in docs.items() if not doc.fingerprints),
            "compared": n * (n - 1) // 2, "pairs": pairs}, docs


def _decode(data: bytes) -> list[str]:
    """The lines of a module as Python reads them (its declared encoding, else UTF-8), each with its line end."""
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError as e:
        if e.msg.startswith("invalid or missing encoding declaration"):
            e.msg = "its first lines are not valid utf-8 and it declares no encoding"
        raise _Untokenizable(f"cannot be tokenised: {e.msg}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise _Untokenizable(f"cannot be tokenised: line {line} is not valid {encoding} ({e.reason})") from None
    parts = text.split("\n")  # the tokenizer cuts lines after "\n" only (str.splitlines also cuts at "\f")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _normalise(lines: list[str], first_line: int = 1) -> _Normalised:
    """The normalised tokens of a module, the source lines each one spans, and where each unit starts.

    A unit is one top-level function or class (with its decorators), or a run of other top-level statements. No
    k-gram crosses from one unit into the next, so a function has the same fingerprints wherever it is placed.
    ``lines`` may be the end of a module from a top-level statement on, which starts at ``first_line``.
    Raises _Untokenizable.
    """
    try:
        raw = [t for t in tokenize.generate_tokens(iter(lines).__next__) if t[0] not in (COMMENT, NL)]
    except SyntaxError as e:  # IndentationError
        raise _Untokenizable(f"cannot be tokenised: {e.msg} (line {e.lineno + first_line - 1})") from None
    except tokenize.TokenError as e:  # an unclosed bracket or string at the end of the file
        raise _Untokenizable(f"cannot be tokenised: {e.args[0]} (line {e.args[1][0] + first_line - 1})") from None
    shift = first_line - 1
    tokens, spans, units = [], [], []
    statement_start, depth, unit_kind, previous = True, 0, None, ""
    inline = False  # just after a compound statement's colon: a statement may follow on the same line
    brackets, lambdas, opener = 0, 0, ""
    groups: list[bool] = []  # per open parenthesis: kept (a call, a definition) or dropped (only grouping)
    i, count = 0, len(raw)
    while i < count:
        kind, string, (start, _), (end, _), _ = raw[i]
        i += 1
        if statement_start or inline:
            after = _no_op_end(raw, i - 1)
            if after is not None:
                i, inline = after, False  # pass, ..., a docstring or another bare constant or name
                continue
        if statement_start:
            if depth == 0 and kind not in (INDENT, DEDENT, NEWLINE, ENDMARKER):
                starts = "definition" if string in _DEFINITION else "statements"
                if unit_kind != "decorator" and (starts == "definition" or unit_kind != "statements"):
                    units.append(len(tokens))
                unit_kind = "decorator" if string == "@" else starts
            opener, lambdas = string, 0
        statement_start = kind in (NEWLINE, INDENT, DEDENT) or string == ";"
        inline = (kind == OP and string == ":" and brackets == 0 and lambdas == 0 and opener in _COMPOUND)
        if kind == NAME:
            lambdas += string == "lambda" and brackets == 0
            text = string if string in _KEPT_NAMES or previous == "." else "$id"
        elif kind == OP:
            if string in "([{":
                brackets += 1
            elif string in ")]}":
                brackets -= 1
            if string == "(":
                # after a name, a literal or a closing bracket it calls or defines; elsewhere it only groups
                groups.append(previous.startswith("$") or previous in (")", "]")
                              or (previous in _KEPT_NAMES and not keyword.iskeyword(previous)))
                text = "(" if groups[-1] else None
            elif string == ")":
                text = ")" if not groups or groups.pop() else None
            elif string == "," and i < count and raw[i].string in (")", "]", "}"):
                text = None  # a trailing comma
            else:
                text = string if string != ";" else None if previous in ("", ";", "{") else ";"
        elif kind == NEWLINE:
            text = None if previous in ("", ";", "{") else ";"
        elif kind == INDENT:
            depth += 1
            text = "{"
        elif kind == DEDENT:
            depth -= 1
            text = "}"
        elif kind == ENDMARKER:
            text = None
        else:
            text = _literal(kind, string)
        if text is not None:
            tokens.append(text)
            # ; { and } sit on a neighbouring statement's line: they never set a region's lines
            spans.append(None if text in _STRUCTURE else (start + shift, end + shift))
            previous = text
    return tokens, spans, units


def _no_op_end(raw: list, first: int) -> int | None:
    """If the statement starting at ``raw[first]`` does nothing (``pass``, ``...``, a docstring or another bare
    literal or name, in any parentheses), the index just after it and its ``;`` or line end; else None."""
    atoms, strings_only, balance = 0, True, 0
    for j in range(first, len(raw)):
        kind, string = raw[j].type, raw[j].string
        if balance == 0 and (kind in (NEWLINE, ENDMARKER) or string == ";"):
            return j + 1 if atoms == 1 or (atoms and strings_only) else None
        if kind == STRING:
            atoms += 1
        elif kind == NUMBER or string == "..." or (kind == NAME and (
                string in ("pass", "None", "True", "False") or not keyword.iskeyword(string))):
            atoms, strings_only = atoms + 1, False
        elif string in ("(", ")"):
            balance += 1 if string == "(" else -1
        else:
            return None
    return None


@dataclass
class _Stub:
    """A question's stub, normalised, so that the parts a student left untouched need not be tokenised again."""

    lines: list[str]
    tokens: list[str]
    spans: list[tuple[int, int] | None]
    units: list[int]
    starts: list[tuple[int, int]] = field(init=False)  # (line, first token) of each unit: nothing is open there

    def __post_init__(self):
        self.starts = [(next(s for s in self.spans[u:] if s)[0], u) for u in self.units]


def _normalise_against(lines: list[str], stub: _Stub | None) -> _Normalised:
    """``_normalise(lines)``, with the tokens of leading and trailing units identical to the stub's copied from it.

    At the start of a unit the tokenizer is in its initial state, so the text before it, if the same as the stub's,
    gives the stub's tokens; the text from a ``def`` or ``class`` on to the end likewise, provided the student's
    code before it tokenises on its own (so that it leaves nothing open).
    """
    if stub is None:
        return _normalise(lines)
    if lines == stub.lines:
        return stub.tokens, stub.spans, stub.units
    same = next((i for i, (mine, theirs) in enumerate(zip(lines, stub.lines)) if mine != theirs),
                min(len(lines), len(stub.lines)))
    head_line, head = max(((line, u) for line, u in stub.starts if line <= same), default=(1, 0))
    same_end = next((i for i, (mine, theirs) in enumerate(zip(reversed(lines), reversed(stub.lines)))
                     if mine != theirs), min(len(lines), len(stub.lines)))
    moved = len(lines) - len(stub.lines)  # the tail's lines in the student's file are its stub lines + moved
    tail_line, tail = min(((line, u) for line, u in stub.starts if u > head and stub.tokens[u] in _DEFINITION
                           and line > len(stub.lines) - same_end and line + moved >= head_line),
                          default=(len(stub.lines) + 1, len(stub.tokens)))
    try:
        tokens, spans, units = _normalise(lines[head_line - 1:tail_line - 1 + moved], head_line)
    except _Untokenizable:
        return _normalise(lines)  # raises if the whole file does not tokenise either, with the right line
    if units and tokens[units[-1]] == "@" and not {"def", "class"} & set(tokens[units[-1]:]):
        return _normalise(lines)  # a decorator of the stub's next function: one unit with it
    return (stub.tokens[:head] + tokens + stub.tokens[tail:],
            stub.spans[:head] + spans + [(s[0] + moved, s[1] + moved) if s else None for s in stub.spans[tail:]],
            [u for u in stub.units if u < head] + [u + head for u in units]
            + [u - tail + head + len(tokens) for u in stub.units if u >= tail])


def _literal(kind: int, string: str) -> str | None:
    """A placeholder per type of literal; anything else (a stray character: ERRORTOKEN) as written."""
    if kind == NUMBER:
        s = string.lower()
        if s.endswith("j"):
            return "$complex"
        if s.startswith(("0x", "0o", "0b")) or not any(c in s for c in ".e"):
            return "$int"
        return "$float"
    if kind == STRING:
        prefix = string[:string.index(string[-1])].lower()
        return "$bytes" if "b" in prefix else "$fstring" if "f" in prefix else "$str"
    return None if string.isspace() else string  # ERRORTOKEN: a stray character, or blanks after one


def _kgrams(tokens: list[str], units: list[int], k: int) -> list[tuple[int, list[int]]]:
    """For each unit, its first token and the Karp-Rabin hash of every k-gram inside it (over stable token codes)."""
    codes = [_code(t) for t in tokens]
    top = pow(_B, k - 1, _P)
    out = []
    for start, end in zip(units, units[1:] + [len(tokens)]):
        if end - start < k:
            continue
        h = 0
        for c in codes[start:start + k]:
            h = (h * _B + c) % _P
        hashes = [h]
        for old, new in zip(codes[start:end - k], codes[start + k:end]):
            h = ((h - old * top) * _B + new) % _P
            hashes.append(h)
        out.append((start, hashes))
    return out


_CODES: dict[str, int] = {}


def _code(token: str) -> int:
    code = _CODES.get(token)
    if code is None:
        code = _CODES[token] = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big") % _P
    return code


def _winnow(hashes: list[int], w: int) -> list[tuple[int, int]]:
    """Robust winnowing: each window of ``w`` hashes selects its smallest, the rightmost one unless a tied one is
    still selected from the window before; returns each selected ``(hash, position)`` once."""
    if not hashes:
        return []
    if len(hashes) <= w:
        m = min(hashes)
        return [(m, len(hashes) - 1 - hashes[::-1].index(m))]
    out, chosen = [], -1
    for start in range(len(hashes) - w + 1):
        if chosen < start:  # the previous minimum left the window: scan the whole window
            window = hashes[start:start + w]
            m = min(window)
            chosen = start + w - 1 - window[::-1].index(m)
            out.append((m, chosen))
        elif hashes[start + w - 1] < hashes[chosen]:  # the new hash is the window's minimum
            chosen = start + w - 1
            out.append((hashes[chosen], chosen))
    return out


def _regions(a: _Doc, b: _Doc, k: int, w: int) -> list[dict]:
    """Matching regions: shared fingerprints chained along a common diagonal, as line ranges of both files.

    Two fingerprint matches belong to one region when both files advance by at most ``k + 2 w`` tokens from one to
    the next (an edit inside copied code costs up to ``k + w``) and the two advances differ by at most ``_SHIFT``.
    """
    gap = k + 2 * w
    anchors = sorted((pa, pb) for h, positions in a.fingerprints.items() if h in b.fingerprints
                     for pa in positions[:_MAX_OCCURRENCES] for pb in b.fingerprints[h][:_MAX_OCCURRENCES])
    runs: list[list[int]] = []  # [first a, first b, last a, last b, count]
    for pa, pb in anchors:
        best, best_drift = None, _SHIFT + 1
        for run in runs[-16:]:  # runs still open are among the latest; older ones ended more than a gap ago
            da, db = pa - run[2], pb - run[3]
            if 0 < da <= gap and 0 < db <= gap and abs(da - db) < best_drift:
                best, best_drift = run, abs(da - db)
        if best is None:
            runs.append([pa, pb, pa, pb, 1])
        else:
            best[2], best[3], best[4] = pa, pb, best[4] + 1
    spans = sorted([*_lines(a, r[0], r[2] + k - 1), *_lines(b, r[1], r[3] + k - 1), r[4]] for r in runs)
    merged: list[list[int]] = []
    for span in spans:
        last = merged[-1] if merged else None
        if last and span[0] <= last[1] + 1 and span[2] <= last[3] + 1 and span[3] >= last[2] - 1:
            last[1], last[2], last[3] = max(last[1], span[1]), min(last[2], span[2]), max(last[3], span[3])
            last[4] += span[4]
        else:
            merged.append(span)
    return [{"a": [s[0], s[1]], "b": [s[2], s[3]], "fingerprints": s[4]} for s in merged]


def _lines(doc: _Doc, first: int, last: int) -> tuple[int, int]:
    """The source lines spanned by the tokens ``first..last`` other than ; { and }."""
    real = [span for span in doc.token_lines[first:last + 1] if span]
    if not real:  # only possible for a k-gram of nothing but dedents; show the statement before them
        real = [next((span for span in reversed(doc.token_lines[:first]) if span), (1, 1))]
    return real[0][0], real[-1][1]


_CONTEXT = 2  # unhighlighted lines shown around each region
_FOLD = 4     # a run of more unhighlighted lines inside a region (a docstring) is folded to its first and last
_COLOURS = ("#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc", "#d9f99d")


def _render_html(report: dict, all_docs: dict[str, dict[str, _Doc]], top: int) -> str:
    params = report["parameters"]
    questions = []
    for stem, q in report["questions"].items():
        docs = all_docs[stem]
        flagged = [pair for pair in q["pairs"] if pair["flagged"]]
        shown = [_pair_view(stem, i, pair, docs) for i, pair in enumerate(flagged[:top], start=1)]
        n = len(q["submissions"])
        notes = list(q["notes"])
        notes += [f"{student}: {stem}.py skipped, it {reason}" for student, reason in q["skipped"].items()]
        if q["missing"]:
            notes.append(f"no {stem}.py from {len(q['missing'])} submission{'s' * (len(q['missing']) != 1)}: "
                         f"{_listing(q['missing'])}")
        if q["without_own_code"]:
            notes.append(f"nothing beyond the stub in {len(q['without_own_code'])} submission"
                         f"{'s' * (len(q['without_own_code']) != 1)}: {_listing(q['without_own_code'])}")
        if n < 2:
            summary = ""  # the notes say it
        elif not flagged:
            best = q["pairs"][0] if q["pairs"] else None
            summary = (f"{q['compared']} pairs compared; none reached the threshold"
                       + (f" (highest: {best['a']} and {best['b']}, {best['score']:.2f})." if best else
                          "; no two submissions share any fingerprint."))
        else:
            summary = (f"{q['compared']} pairs compared; {len(flagged)} reached the threshold"
                       + (f", showing the top {top}." if len(flagged) > top else "."))
        questions.append({"stem": stem, "label": registry.by_stem(stem).heading,
                          "title": registry.by_stem(stem).title, "n": n,
                          "compared": q["compared"], "flagged": flagged, "shown": shown, "notes": notes,
                          "summary": summary,
                          "highest": f"{q['pairs'][0]['score']:.2f}" if q["pairs"] else "–"})
    view = {"k": params["k"], "w": params["w"], "threshold": params["threshold"], "min_shared": params["min_shared"],
            "common": f"{params['common_fraction']:.0%}", "common_max": params["common_max"],
            "min_class": params["min_class_for_common"]}
    return render("similarity.html", p=view, top=top, questions=questions)


def _pair_view(stem: str, rank: int, pair: dict, docs: dict[str, _Doc]) -> dict:
    regions = []
    for i, r in enumerate(pair["regions"]):
        colour = _COLOURS[i % len(_COLOURS)]
        sides = [{"who": pair[side], "lines": _excerpt(docs[pair[side]], *r[side])} for side in ("a", "b")]
        regions.append({"colour": colour, "a_first": r["a"][0], "a_last": r["a"][1], "b_first": r["b"][0],
                        "b_last": r["b"][1], "fingerprints": r["fingerprints"], "sides": sides})
    return {**pair, "regions": regions, "anchor": f"{stem}-{rank}", "pct": f"{100 * min(pair['score'], 1):.0f}"}


def _excerpt(doc: _Doc, first: int, last: int) -> list[dict]:
    """Lines ``first..last`` with context, a line highlighted if it holds code; long unhighlighted runs folded."""
    code = {n for span in doc.token_lines[_first_token(doc, first):_first_token(doc, last + 1)] if span
            for n in range(span[0], span[1] + 1)}
    lo, hi = max(1, first - _CONTEXT), min(len(doc.lines), last + _CONTEXT)
    out: list[dict] = []
    run: list[dict] = []  # unhighlighted lines inside the region, not yet shown
    for n in range(lo, hi + 1):
        line = {"n": n, "text": doc.lines[n - 1].expandtabs(4), "hit": first <= n <= last and n in code, "fold": 0}
        if first < n < last and not line["hit"]:
            run.append(line)
            continue
        out += run if len(run) <= _FOLD else [run[0], {"fold": len(run) - 2, "hit": False}, run[-1]]
        run = []
        out.append(line)
    return out


def _first_token(doc: _Doc, line: int) -> int:
    """The index of the first token that starts on ``line`` or later (tokens are in source order)."""
    starts = doc.token_starts
    if not starts:
        starts[:] = [span[0] if span else 0 for span in doc.token_lines]
        for i in range(1, len(starts)):  # ; { } take the line of the token before them
            starts[i] = max(starts[i], starts[i - 1])
    return bisect.bisect_left(starts, line)


def _listing(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def write_similarity_html(out_dir: Path, submissions: dict[str, Path], stubs_dir: Path, top: int = 20) -> Path:
    """Compare ``submissions`` (student id -> normalised directory) and write ``out_dir/similarity.html`` atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "similarity.html"
    report, docs = _analyse(submissions, stubs_dir)
    atomic_write_text(path, _render_html(report, docs, top))
    return path


def write_similarity_counted(out_dir: Path, submissions: dict[str, Path], stubs_dir: Path,
                             top: int = 20) -> tuple[Path, int]:
    """:func:`write_similarity_html`, also returning how many pairs were flagged over all questions."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "similarity.html"
    report, docs = _analyse(submissions, stubs_dir)
    atomic_write_text(path, _render_html(report, docs, top))
    return path, sum(p["flagged"] for q in report["questions"].values() for p in q["pairs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write OUT_DIR/similarity.html comparing submissions question by "
                                                 "question (MOSS-style winnowed fingerprints).")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("dirs", type=Path, nargs="*", metavar="DIR",
                        help="normalised submission directories holding <question>.py files; the id is the "
                             "directory's name")
    parser.add_argument("--submissions-root", type=Path, metavar="SUBMISSIONS",
                        help="a directory of raw submissions (folders or .zip files, as for `make grade`); each is "
                             "normalised by grader.submission first")
    parser.add_argument("--stubs", type=Path, default=STUBS_DIR, help=f"the stubs (default {STUBS_DIR})")
    parser.add_argument("--top", type=int, default=20, help="flagged pairs shown per question (default 20)")
    args = parser.parse_args(argv)
    if bool(args.dirs) == bool(args.submissions_root):
        parser.error("give either submission directories or --submissions-root, not both or neither")
    if args.dirs:
        ids = [d.name for d in args.dirs]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            parser.error(f"several directories are named {', '.join(duplicated)}; ids come from directory names")
        missing = [str(d) for d in args.dirs if not d.is_dir()]
        if missing:
            parser.error(f"not a directory: {', '.join(missing)}")
        path = write_similarity_html(args.out_dir, dict(zip(ids, args.dirs)), args.stubs, top=args.top)
    else:
        from grader.intake import submission

        if not args.submissions_root.is_dir():
            parser.error(f"{args.submissions_root} is not a directory")
        entries = submission.discover(args.submissions_root)
        for note in entries.skipped:
            print(f"skipped: {note}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="similarity-") as work:
            dirs = {}
            for student, source in entries:
                try:
                    dirs[student] = submission.prepare(source, student, Path(work) / student).root
                except submission.SubmissionError as exc:
                    print(f"skipped: {student}: {exc}", file=sys.stderr)
            path = write_similarity_html(args.out_dir, dirs, args.stubs, top=args.top)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
