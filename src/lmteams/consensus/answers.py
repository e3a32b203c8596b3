"""Final-answer extraction and normalization, so equal answers compare equal.

An extractor maps a node's raw reply to an :class:`Answer`: the text shown to users and a
normalized key used for voting. Extractors are plain functions registered by name; pass your
own callable wherever an extractor name is accepted. :func:`extract_for` binds an extractor to
a question, so it reads a reply the way a person who asked would (the rule is in
docs/consensus.md, "Answers"). Pure: no I/O; every pattern is compiled once.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lmteams.consensus.numbers import canonical, last_number, numbers_in
from lmteams.errors import ConfigError
from lmteams.frozen import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class Answer:
    """One extracted answer: ``key`` decides equality, ``text`` is what a user sees."""

    key: str
    text: str

    @property
    def empty(self) -> bool:
        return not self.key


NO_ANSWER = Answer("", "")

Extractor = Callable[[str], Answer]

# "Answer: X", "Final answer - X", "**Answer**: X", "the answer is X"
_MARKER = re.compile(
    r"(?:final\s+answer|answer)\s*(?:\*\*)?\s*(?:is\s*)?[:=\-–]\s*(?:\*\*)?\s*(.+)|"
    r"the\s+answer\s+is\s+(.+)",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_CHOICE = re.compile(r"\b([A-J])\b(?:\)|\.|:|$|\s)")
_LEADING_CHOICE = re.compile(r"^\(?([A-Ja-j])(?:\)|\.|:|\s|$)")
_LETTERED = re.compile(r"(?:^|[\s(])([A-J])\)\s*(.+?)(?=\s+\(?[A-J]\)|\s*[?.]?\s*$)")
_ALPHA = re.compile(r"[A-Za-z]+")
_WORD = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z-]*")
_EDGE = re.compile(r"^[\s\"'`(\[*_]+|[\s\"'`)\].,;:!?*_]+$")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")
_SPACES = re.compile(r"[\s_]+")
_CLAUSE = re.compile(r"\s*(?:[,;()]|\s-\s|\s(?:because|since|which|as|so|but|while)\s)\s*")
_COPULA = re.compile(r"\s(?:is|are|was|were|equals|means|=)\s|'s\s")
_YES = {"yes", "y", "true", "correct", "right"}
_NO = {"no", "n", "false", "incorrect", "wrong"}
_NEGATIONS = {"not", "never", "no", "isn't", "aren't", "doesn't", "don't", "cannot", "can't"}
# Words that carry no answer: they are dropped when a sentence is read for its entity.
STOPWORDS = frozenset(
    (
        *("a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "from", "and"),
        *("is", "are", "was", "were", "be", "been", "it", "its", "it's", "this", "that"),
        *("these", "those", "there", "what", "which", "who", "whom", "whose", "where", "when"),
        *("how", "why", "i", "we", "you", "my", "our", "your", "think", "believe", "answer"),
        *("final", "called", "named", "known", "as", "probably", "likely", "definitely"),
        *("surely", "certainly", "so", "then", "therefore", "thus", "hence", "do", "does"),
        *("did", "has", "have", "had", "can", "could", "would", "should", "will", "one"),
        *("correct", "right", "yes", "well", "actually", "indeed", "just", "also", "very"),
    )
)
_QUESTION_YESNO = re.compile(
    r"^\s*(?:is|are|am|was|were|do|does|did|can|could|will|would|should|has|have|had|"
    r"isn't|aren't|doesn't)\b",
    re.IGNORECASE,
)
_QUESTION_NUMBER = re.compile(
    r"\b(?:how\s+(?:many|much|old|long|far|tall|heavy)|what\s+year|which\s+year|in\s+what\s+year|"
    r"calculate|compute|evaluate|(?:largest|smallest|biggest|greatest)\s+number|sum\s+of|"
    r"product\s+of|difference\s+between|remainder)\b|\d\s*[-+*/×x÷^]\s*\d",
    re.IGNORECASE,
)


def final_segment(reply: str) -> str:
    """The part of a reply that states the answer: the last ``\\boxed{...}``, else after the
    last "Answer:" marker, else the last non-empty line."""
    if "boxed" in reply:
        boxed = _BOXED.findall(reply)
        if boxed:
            return str(boxed[-1]).strip()
    matches = list(_MARKER.finditer(reply))
    if matches:
        last = matches[-1]
        segment = last.group(1) or last.group(2) or ""
        return segment.strip().splitlines()[0].strip() if segment.strip() else ""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize_text(text: str) -> str:
    """Case, accents, surrounding punctuation and markdown, articles and spacing removed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("**", "").strip()
    text = _EDGE.sub("", text)
    text = _ARTICLE.sub("", text)
    text = _SPACES.sub(" ", text)
    return text.strip()


def normalize_number(text: str) -> str | None:
    """Canonical form of the last number in ``text`` ("1,000.50" -> "1000.5", "3/4" -> "0.75")."""
    return last_number(text)


def extract_number(reply: str) -> Answer:
    """The last number of the final segment (digits, "1,000", "$5.00" or words such as
    "forty-two"), else the last number of the whole reply."""
    for text in (final_segment(reply), reply):
        found = numbers_in(text)
        if found:
            key = found[-1][1]
            return Answer(key, key)
    return NO_ANSWER


def extract_choice(reply: str) -> Answer:
    segment = final_segment(reply)
    leading = _LEADING_CHOICE.match(segment.strip().strip("*"))
    if leading:
        return Answer(leading.group(1).upper(), leading.group(1).upper())
    for text in (segment, reply):
        match = _CHOICE.search(text.strip() + " ")
        if match:
            letter = match.group(1).upper()
            return Answer(letter, letter)
    return NO_ANSWER


def _polarity(words: list[str]) -> str | None:
    """ "yes" or "no" from the first yes/no word, flipped by a negation just before it."""
    for index, word in enumerate(words):
        if word in _YES or word in _NO:
            answer = "yes" if word in _YES else "no"
            if any(w in _NEGATIONS for w in words[max(0, index - 2) : index]) and word not in (
                "yes",
                "no",
            ):
                answer = "no" if answer == "yes" else "yes"
            return answer
    return None


def extract_yes_no(reply: str) -> Answer:
    for text in (final_segment(reply), reply):
        polarity = _polarity(_WORD.findall(text.lower()))
        if polarity is not None:
            return Answer(polarity, polarity)
    return NO_ANSWER


def extract_text(reply: str) -> Answer:
    segment = final_segment(reply)
    key = normalize_text(segment)
    return Answer(key, segment.strip().strip("*").strip()) if key else NO_ANSWER


def single_number(text: str) -> str | None:
    """The one number a short sentence states ("A spider has eight legs." -> "8"), if exactly one."""
    found = {key for _, key in numbers_in(text)}
    return found.pop() if len(found) == 1 else None


def extract_auto(reply: str) -> Answer:
    """A number if the answer is one (alone, or the one number of a short sentence), yes/no if it
    is one, else normalized text."""
    stripped = reply.strip()
    if _PLAIN_NUMBER.fullmatch(stripped):  # fast path: the reply is just a number
        key = canonical(stripped)
        if key is not None:
            return Answer(key, key)
    segment = final_segment(reply)
    if not segment:
        return NO_ANSWER
    number = normalize_number(segment)
    words = _ALPHA.findall(segment)
    if number is not None and len(words) <= 3:
        return Answer(number, number)
    if len(words) <= 12:
        stated = single_number(segment)
        if stated is not None:
            return Answer(stated, stated)
    normalized = normalize_text(segment)
    if normalized in _YES or normalized in _NO:
        return extract_yes_no(segment)
    return extract_text(reply)


# -- question-aware reading --------------------------------------------------------------------


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> list[str]:
    return _WORD.findall(normalize_text(text).replace("**", ""))


@dataclass(frozen=True, slots=True)
class QuestionView:
    """What reading a reply needs to know about its question, computed once per question."""

    kind: str  # "number", "yesno", "choice" or "text"
    words: frozenset[str]  # the question's words, stemmed
    numbers: frozenset[str]  # the numbers the question states
    options: tuple[tuple[str, ...], ...] = ()  # the answers it offers ("the Sun or the Moon")
    letters: dict[str, str] | None = None  # option text -> letter, for lettered choices


_STEMS = frozenset(
    ("which", "what", "who", "where", "when", "is", "are", "does", "do", "was", "were", "whose")
)
_STEM_HEADS = [[w] for w in _STEMS]


def _or_options(question: str) -> tuple[tuple[str, ...], ...]:
    """The alternatives a question offers: "..., the Sun or the Moon?" -> (sun), (moon)."""
    body = question.strip().rstrip("?.! ")
    if " or " not in body:
        return ()
    before, _, after = body.rpartition(" or ")
    last = _words(after.split(",")[0])
    if not last or len(last) > 5:
        return ()
    head = re.split(r"[:]|\bbetween\b", before)[-1]
    items = [item for item in head.split(",") if item.strip()]
    if not items:
        return ()
    # Earlier list items are options unless they are the question's own stem ("Which is
    # bigger, the Sun or the Moon?"); the item just before "or" is cut to the last one's length.
    width = max(3, len(last) + 1)
    options = [
        words
        for words in map(_words, items[:-1])
        if words and len(words) <= width and words[0] not in _STEMS
    ]
    tail = _words(items[-1])
    options.append(tail[-len(last) :] if len(tail) > width or tail[:1] in _STEM_HEADS else tail)
    options.append(last)
    cleaned = [tuple(w for w in o if w not in ("the", "a", "an")) for o in options]
    return tuple(o for o in cleaned if o and len(o) <= 5)


@lru_cache(maxsize=1024)
def read_question(question: str) -> QuestionView:
    """Kind, words, numbers and offered options of a question (read once per question: a
    team asked many times, an evaluation's strategies, cost as much as reading a reply)."""
    lettered = _LETTERED.findall(question)
    letters = {" ".join(_words(text)): letter.upper() for letter, text in lettered}
    options = _or_options(question) if not lettered else ()
    if len(lettered) >= 2:
        kind = "choice"
    elif _QUESTION_NUMBER.search(question):
        kind = "number"
    elif _QUESTION_YESNO.match(question) and not options:
        kind = "yesno"
    else:
        kind = "text"
    return QuestionView(
        kind=kind,
        words=frozenset(_stem(w) for w in _words(question)),
        numbers=frozenset(key for _, key in numbers_in(question)),
        options=options,
        letters=letters if len(lettered) >= 2 else None,
    )


def _contains(words: list[str], phrase: tuple[str, ...]) -> int:
    """Where ``phrase`` starts as whole words in ``words``, or -1."""
    n = len(phrase)
    for start in range(len(words) - n + 1):
        if tuple(words[start : start + n]) == phrase:
            return start
    return -1


def _new_words(words: list[str], view: QuestionView) -> list[str]:
    return [w for w in words if w not in STOPWORDS and _stem(w) not in view.words]


def _entity(segment: str, view: QuestionView) -> str:
    """The answer a sentence states (rule 6 of docs/consensus.md, section 1)."""
    clauses = [c for c in _CLAUSE.split(segment) if c and c.strip()]
    best, best_overlap = segment, -1
    for clause in clauses:
        words = _words(clause)
        if not _new_words(words, view):
            continue
        overlap = sum(1 for w in words if w not in STOPWORDS and _stem(w) in view.words)
        if overlap > best_overlap:
            best, best_overlap = clause, overlap
    part = best
    copula = _COPULA.search(f" {best} ")
    if copula:
        left, right = f" {best} "[: copula.start()], f" {best} "[copula.end() :]
        left_words, right_words = _words(left), _words(right)
        asks = [w for w in left_words if w not in STOPWORDS and _stem(w) in view.words]
        said_nothing = not _new_words(left_words, view)  # "It is ...", "I think it is ..."
        if (
            right_words
            and (asks or said_nothing)
            and (_new_words(right_words, view) or said_nothing)
        ):
            part = right
        elif _new_words(left_words, view) and any(
            w not in STOPWORDS and _stem(w) in view.words for w in right_words
        ):
            part = left
    words = _words(part)
    run: list[str] = []
    for word in words:  # the first run of words the question did not already say
        if word not in STOPWORDS and _stem(word) not in view.words:
            run.append(word)
        elif run:
            break
    if not run:
        run = [w for w in words if w not in STOPWORDS] or words
    return " ".join(run)


def _number_for(segment: str, reply: str, view: QuestionView) -> Answer:
    for text in (segment, reply):
        found = [key for _, key in numbers_in(text)]
        if found:
            fresh = [key for key in found if key not in view.numbers]
            key = (fresh or found)[-1]
            return Answer(key, key)
    return NO_ANSWER


def _yes_no_for(segment: str, reply: str, view: QuestionView) -> Answer:
    words = _WORD.findall(segment.lower())
    polarity = _polarity(words)
    if polarity is None and any(_stem(w) in view.words for w in words if w not in STOPWORDS):
        # "17 is a prime number." restates the question: yes, unless it is negated.
        polarity = "no" if any(w in _NEGATIONS for w in words) else "yes"
    if polarity is None:
        polarity = _polarity(_WORD.findall(reply.lower()))
    return Answer(polarity, polarity) if polarity else NO_ANSWER


def _choice_for(segment: str, reply: str, view: QuestionView) -> Answer:
    if not view.letters:  # the question lists no lettered options: any letter A-J
        return extract_choice(reply)
    letters = view.letters
    offered = set(letters.values())
    leading = _LEADING_CHOICE.match(segment.strip().strip("*"))
    if leading and leading.group(1).upper() in offered:
        return Answer(leading.group(1).upper(), leading.group(1).upper())
    words = _words(segment)
    named = [
        (at, letter)
        for text, letter in letters.items()
        if (at := _contains(words, tuple(text.split()))) >= 0
    ]
    for text in (segment, reply):
        for match in _CHOICE.finditer(text.strip() + " "):
            letter = match.group(1).upper()
            if letter in offered and not (letter == "I" and not named):
                return Answer(letter, letter)
        if text is segment and named:
            letter = min(named)[1]
            return Answer(letter, letter)
    return NO_ANSWER


def _text_for(segment: str, view: QuestionView) -> Answer:
    shown = segment.strip().strip("*").strip()
    words = _words(segment)
    if not words:
        return NO_ANSWER
    if view.options:
        named = [(at, o) for o in view.options if (at := _contains(words, o)) >= 0]
        if named:
            option = " ".join(min(named)[1])
            return Answer(option, option)
    if len(words) <= 3 and not _COPULA.search(f" {segment} "):
        # A short answer keeps what the question did not already say ("Pacific Ocean" to
        # "Which ocean is largest?" is "pacific"), or all of itself when that is nothing.
        fresh = _new_words(words, view)
        key = " ".join(fresh) if fresh and len(fresh) < len(words) else normalize_text(segment)
    else:
        key = _entity(segment, view)
        found = re.search(r"\W+".join(map(re.escape, key.split())), segment, re.IGNORECASE)
        shown = found.group(0) if found else key
    number = canonical(key) if _PLAIN_NUMBER.fullmatch(key) else None
    if number is not None:
        return Answer(number, number)
    return Answer(key, shown) if key else NO_ANSWER


def read_reply(reply: str, view: QuestionView, kind: str = "auto") -> Answer:
    """A reply's answer to the question ``view`` describes, read as ``kind`` (``auto``: the
    question's own kind)."""
    forced = kind != "auto"  # a named kind reads only that kind; auto falls back to text
    kind = view.kind if kind == "auto" else kind
    stripped = reply.strip()
    if _PLAIN_NUMBER.fullmatch(stripped) and kind in ("number", "text"):  # fast path
        key = canonical(stripped)
        if key is not None:
            return Answer(key, key)
    segment = final_segment(reply)
    if not segment:
        return NO_ANSWER
    if kind in ("number", "text") and _PLAIN_NUMBER.fullmatch(segment):
        # Fast path: "Answer: 42" states one number, which both readings below take (text
        # only when the question did not state it itself).
        key = canonical(segment)
        if key is not None and (kind == "number" or key not in view.numbers):
            return Answer(key, key)
    if kind == "number":
        answer = _number_for(segment, reply, view)
        return answer if forced or not answer.empty else _text_for(segment, view)
    if kind == "yesno":
        answer = _yes_no_for(segment, reply, view)
        return answer if forced or not answer.empty else _text_for(segment, view)
    if kind == "choice":
        return _choice_for(segment, reply, view)
    if _PLAIN_WORD.fullmatch(stripped):  # fast path: one word
        return Answer(stripped.lower(), stripped)
    # A text question answered by a bare number is read as one, like ``auto``. (Not so for
    # "n" or "true": the last letter of "lemon" is "n", not "no".)
    words = _ALPHA.findall(segment)
    number = normalize_number(segment)
    if number is not None and len(words) <= 3 and number not in view.numbers:
        return Answer(number, number)
    return _text_for(segment, view)


_MEMO_LIMIT = 1024


def extract_for(question: str, kind: str = "auto") -> Extractor:
    """An extractor that reads replies to ``question``: a number for "How many ...?" (the last
    one the question did not state), the polarity for "Is ...?", the offered option for "... X
    or Y?", the letter for lettered choices, else the entity a sentence names ("The largest
    planet is Jupiter." -> "jupiter"). ``kind`` forces ``number``, ``yesno``, ``choice`` or
    ``text``. Identical replies (common in a large team) are read once."""
    view = read_question(question)
    memo: dict[str, Answer] = {}

    def extract(reply: str) -> Answer:
        answer = memo.get(reply)
        if answer is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            answer = memo[reply] = read_reply(reply, view, kind)
        return answer

    return extract


def first_json_object(reply: str) -> object | None:
    """The first JSON object embedded in ``reply`` (a reply may wrap it in prose or a code
    fence), or None."""
    decoder = json.JSONDecoder()
    start = reply.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(reply, start)
        except json.JSONDecodeError:
            start = reply.find("{", start + 1)
            continue
        return value  # type: ignore[no-any-return]
    return None


def json_field(field: str) -> Extractor:
    """An extractor reading ``field`` (dotted path, e.g. ``result.value``) from the first JSON
    object in a reply; the value is then normalized like ``auto`` (numbers, yes/no, text)."""
    path = [part.strip() for part in field.split(".") if part.strip()]
    if not path:
        raise ConfigError("a JSON field name is required, e.g. json:answer", field="--answer")

    def extract_json(reply: str) -> Answer:
        value = json_value(reply, path)
        return NO_ANSWER if value is None else extract_auto(f"Answer: {value}")

    return extract_json


def json_value(reply: str, path: list[str]) -> str | None:
    """The scalar at ``path`` in the first JSON object of ``reply``, as text (true/false read
    as yes/no), or None when there is no such object or field."""
    value: object = first_json_object(reply)
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_ANSWER_PATH = ["answer"]


def json_first(extract: Extractor) -> Extractor:
    """``extract`` applied to a structured reply's ``{"answer": ...}`` (consensus
    ``answer_format: json``); a reply without that field, or whose field ``extract`` cannot
    read, is read as text by ``extract`` like any other reply."""

    def read(reply: str) -> Answer:
        if "{" in reply:
            value = json_value(reply, _ANSWER_PATH)
            if value is not None:
                answer = extract(value)
                if not answer.empty:
                    return answer
        return extract(reply)

    return read


EXTRACTORS: dict[str, Extractor] = {
    "auto": extract_auto,
    "number": extract_number,
    "choice": extract_choice,
    "yesno": extract_yes_no,
    "text": extract_text,
}
_BUILTIN = dict(EXTRACTORS)


_QUESTION_AWARE = {"auto", "number", "yesno", "choice", "text"}


def get_extractor(kind: str | Extractor, question: str | None = None) -> Extractor:
    """An extractor by name; ``json:FIELD`` reads a field of a JSON reply. With ``question``,
    the built-in kinds read replies to that question (:func:`extract_for`)."""
    if callable(kind):
        return kind
    if kind == "json":  # the conventional field; `json:` with no field is refused below
        return json_field("answer")
    if kind.startswith("json:"):
        return json_field(kind.removeprefix("json:"))
    if kind not in EXTRACTORS:
        raise ConfigError(
            f"unknown answer type {kind!r}; one of: {', '.join(EXTRACTORS)}, json:FIELD",
            field="--answer",
        )
    extractor = EXTRACTORS[kind]
    if question is not None and kind in _QUESTION_AWARE and extractor is _BUILTIN[kind]:
        return extract_for(question, kind)
    return extractor


def register_extractor(name: str, extractor: Extractor) -> None:
    """Make ``extractor`` available by name (``lmteams ask --answer NAME`` and the Python API)."""
    EXTRACTORS[name] = extractor
