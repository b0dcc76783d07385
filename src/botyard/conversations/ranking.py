"""Rank a bot's knowledge-base entries against an end user's message.

The method is BM25F (Okapi BM25 over several weighted fields): a match in an entry's question
counts three times as much as one in its answer and tags sit in between, because the question
is what the entry is *about* while the answer also mentions incidental things. Text is
normalised (NFKC, casefold), split on unicode word characters and apostrophes, stripped of
stopwords, stemmed with Snowball and, for English, mapped through a small table of support
synonyms so that "money back" meets "refund" and "log in" meets "sign in".

Raw BM25 scores depend on the size and wording of each knowledge base, so one threshold would
mean something different for every bot. The score is therefore normalised: each query term
contributes its BM25 saturation in the entry divided by the saturation of a single occurrence
in an average-length question (capped at 1), weighted by the term's idf, and the sum is divided
by the total idf of the query. The result is the idf-weighted share of the user's message that
the entry matches: 1.0 when every term is found in the question, 0.0 when none is; a term
found only in an average-length answer counts for about 0.6 of its weight. Words the knowledge base has never seen carry the highest
idf, so an off-topic message that shares one common word with an entry still scores low.

Every step is bounded, because entries and messages come from whoever holds a write key
(issue 17: a knowledge base of 9,990-letter words once froze the process and grew it by
gigabytes, the typo table being quadratic in word length). A word is cut to
``MAX_WORD_LENGTH`` characters, only ``MAX_TYPO_LENGTH`` characters or fewer are typo-corrected,
an entry contributes at most ``MAX_WORDS_PER_ENTRY`` words, and an :class:`IndexBuilder` stops
taking entries once the bot's words, entries or estimated bytes reach their caps: the index
then answers from the entries that fit (the oldest first) and says it is incomplete.

This module is deliberately pure: no database, no other botyard imports.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
import sys
import threading
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import snowballstemmer

__all__ = [
    "DEFAULT_ANSWER_THRESHOLD",
    "Document",
    "IndexBuilder",
    "KnowledgeIndex",
    "Match",
    "rank",
]

DEFAULT_ANSWER_THRESHOLD = 0.5
"""Answer only when at least half of the message's weight is matched by the entry.

With the normalisation above this reads as "the entry covers most of what the user said".
A paraphrase that shares its key words with an entry's question scores 0.8-1.0. A message
with one matched word and one word the bot has never seen ("cancel my flight", "reset my
router") scores about 0.4, because unseen words carry the largest idf. That is too little
evidence for a confident reply, and a wrong answer costs more than the fallback. Off-topic
messages (weather, recipes) score 0-0.3. On the labelled set in
tests/conversations/reply_quality_set.py, 0.4 would answer some of those near-misses and
0.6 would drop several good paraphrases.
"""

K1 = 1.2
"""Term-frequency saturation: a second occurrence adds little, as a repeated word in an answer
says little more about its topic."""

B = 0.75
"""Length normalisation: a word in a short question is stronger evidence than in a long one."""

FIELD_WEIGHTS: dict[str, float] = {"question": 3.0, "tags": 2.0, "answer": 1.0}

_MIN_TYPO_LENGTH = 5
"""Shorter words are too easily one edit away from an unrelated word to be corrected."""

MAX_WORD_LENGTH = 64
"""Longer words are cut to their first 64 characters, in entries and messages alike, so they
still match each other. No dictionary word is that long; a longer one is a hash, a URL or an
attack, and the cost of every step below grows with word length."""

MAX_TYPO_LENGTH = 32
"""Longer terms are matched exactly only: the typo table holds one deletion per character of
every term, so its size grows with the square of the length."""

MAX_WORDS_PER_ENTRY = 2_000
"""Words of an entry analysed for the index, question first, then tags, then the answer (an
answer of the longest allowed length is about 1,700 words of prose)."""

DEFAULT_MAX_WORDS = 500_000
"""Words analysed per bot: the build's time. About 3,000 FAQ entries of average length."""

DEFAULT_MAX_ENTRIES = 10_000
"""Entries indexed per bot, however short they are."""

PAUSE_EVERY = 200
"""New terms between two pauses of a build (about a millisecond of work)."""

_WORD_CACHE_SIZE = 10_000
"""User messages bring endless new words; the memo must not grow with them forever."""

_CACHED_WORD_LENGTH = 24
"""Only words this short are memoised, so one analyzer's memo stays within a few MB."""


@dataclass(frozen=True, slots=True)
class Document:
    """One knowledge-base entry as the ranker sees it."""

    id: str
    question: str
    answer: str
    tags: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Match:
    """A ranked entry; ``score`` is in 0.0..1.0 so one threshold fits every bot."""

    id: str
    score: float


_STEMMER_NAMES: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "tr": "turkish",
}


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _wordset(
        """
        a about above after again against all also am an and any are as at be because been
        before being below between both but by can could did do does doing done down during
        each either else ever every few for from further had has have having he her here hers
        herself him himself his how i if in into is it its itself just let me more most much
        many my myself no nor not now of off on once only or other our ours ourselves out over
        own same she should so some such than that the their theirs them themselves then there
        these they this those through to too under until up very was we were what when where
        which while who whom why will with would you your yours yourself yourselves
        s t m d ll re ve don doesn didn isn aren wasn weren won wouldn couldn shouldn haven hasn
        hadn cant dont doesnt didnt isnt wont im ive
        hi hello hey please pls plz thanks thank ok okay want wanted need like get got getting
        anyone someone something anything way still yet already
        use using used make making made take taking took give giving gave go goes going went
        happen happens happened know tell let able possible without within
        """
    ),
    "fr": _wordset(
        """
        a à au aux avec ce ces cet cette comment d dans de des du elle en est et être il ils
        j je l la le les leur lui m ma mais me mes moi mon n ne nos notre nous on ou où par pas
        pour qu que quel quelle quels qui s sa se ses si son sur t ta te tes toi ton tu un une
        vos votre vous y bonjour merci svp peux puis veux faire fait ai as avez avons suis es
        sont était
        """
    ),
    "de": _wordset(
        """
        aber alle als am an auch auf aus bei bin bis bitte da das dass dem den der des die du
        ein eine einem einen einer es für hallo hat habe haben ich ihr im in ist ja kann
        können mein meine mich mir mit nach nicht noch nur ob oder sich sie sind so über um
        und uns unser von vom was wie wir wo zu zum zur danke möchte wann warum welche
        """
    ),
    "es": _wordset(
        """
        a al algo como con cuál cuando de del donde el ella en es esta está este hola la las le
        lo los me mi mis muy no o para pero por puedo que qué se si sin su sus te tu tus un una
        uno y yo gracias quiero cómo dónde cuándo hay
        """
    ),
}

_EN_SYNONYMS: tuple[tuple[str, ...], ...] = (
    # Each group maps onto the terms of its first member; multi-word entries match as phrases.
    ("price", "pricing", "cost", "expensive", "cheap", "cheaper", "affordable"),
    ("fee", "charge", "commission", "surcharge"),
    ("refund", "reimburse", "reimbursement", "money back"),
    ("cancel", "cancellation", "terminate", "termination", "unsubscribe", "stop"),
    ("subscription", "subscribe", "membership", "contract"),
    ("login", "logon", "signin", "log in", "log on", "log into", "sign in", "sign on"),
    ("signup", "register", "registration", "sign up", "create an account"),
    ("password", "passcode", "passphrase", "passwd", "pwd"),
    ("shipping", "ship", "shipment", "deliver", "delivery", "dispatch", "postage", "courier"),
    ("parcel", "package"),
    ("return", "send back", "send it back", "give back"),
    ("delete", "remove", "erase", "deletion", "wipe"),
    ("delete account", "close account", "close my account", "close our account"),
    ("email", "mail", "e mail"),
    ("contact", "reach", "get in touch", "talk to", "speak to", "speak with"),
    ("contact", "human", "real person", "live agent", "representative", "operator"),
    ("phone", "telephone", "call", "hotline", "phone number"),
    ("support", "helpdesk", "customer service", "customer care"),
    ("employee", "staff", "colleague", "coworker", "worker", "personnel"),
    ("key", "token"),
    ("2fa", "mfa", "2sv", "two factor", "2 factor", "two step", "2 step", "multi factor"),
    ("trial", "try", "test drive"),
    ("internet", "wifi", "wi fi", "connection", "connectivity", "network"),
    ("hardware", "device", "machine"),
    ("problem", "issue", "error", "trouble", "bug", "broken", "fail", "failure"),
    ("change", "update", "modify", "edit", "switch"),
    ("create", "generate"),
    ("enable", "activate", "turn on", "switch on"),
    ("customer", "client"),
    ("american express", "amex"),
)


_APOSTROPHE = re.compile(r"['’ʼ‘`´]")
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    """Lowercased unicode words of at most MAX_WORD_LENGTH characters; apostrophes split
    contractions ("can't" -> "can", "t")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [word[:MAX_WORD_LENGTH] for word in _WORD.findall(_APOSTROPHE.sub(" ", folded))]


def _analyzer_for(language: str) -> _Analyzer:
    """The shared analyzer for a language tag such as "en", "fr-CA" or "pt_BR"."""
    return _analyzer_for_code(language.strip().lower().replace("_", "-").split("-")[0])


def _analyzer_for_code(code: str) -> _Analyzer:
    """One analyzer per language Botyard knows, shared by all indexes, so each word is analysed
    once; every other language shares the plain one (so bots cannot multiply the memos)."""
    known = code in _STEMMER_NAMES or code in _STOPWORDS
    return _shared_analyzer(code if known else "")


@functools.cache
def _shared_analyzer(code: str) -> _Analyzer:
    return _Analyzer(code)


class _Analyzer:
    """Turns text into index terms the same way for entries and for user messages."""

    def __init__(self, code: str) -> None:
        self.stopwords = _STOPWORDS.get(code, frozenset())
        name = _STEMMER_NAMES.get(code)
        self._stemmer = (
            snowballstemmer.stemmer(name)
            if name is not None and name in snowballstemmer.algorithms()
            else None
        )
        if self._stemmer is not None and hasattr(self._stemmer, "maxCacheSize"):
            # PyStemmer's own memo keeps a list per word, which every garbage collection walks;
            # the memo below serves instead.
            self._stemmer.maxCacheSize = 0
        # Snowball stemmers (the C ones of PyStemmer too) keep state between calls: guard them.
        self._lock = threading.Lock()
        self._words: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        if code == "en":
            self._load_synonyms(_EN_SYNONYMS)
        self._longest_phrase = max((len(key) for key in self._synonyms), default=1)
        self._phrase_starts = {key[0] for key in self._synonyms if len(key) > 1}

    def _load_synonyms(self, groups: Sequence[Sequence[str]]) -> None:
        """Key every synonym by its stems, so inflections ("cancelled") map as well."""
        for group in groups:
            canonical = tuple(
                self.stem(word) for word in _words(group[0]) if word not in self.stopwords
            )
            for entry in group:
                key = tuple(self.stem(word) for word in _words(entry))
                if self._synonyms.setdefault(key, canonical) != canonical:
                    raise ValueError(f"synonym {entry!r} stems into two groups")

    def stem(self, word: str) -> str:
        if self._stemmer is None or any(char.isdigit() for char in word):
            return word
        with self._lock:
            return str(self._stemmer.stemWord(word))

    def _analyse(self, word: str) -> tuple[str, tuple[str, ...]]:
        """The word's stem and the terms it stands for on its own (none for a stopword)."""
        analysed = self._words.get(word)
        if analysed is None:
            stem = self.stem(word)
            if len(word) < 2 or word in self.stopwords:
                analysed = (stem, ())
            else:
                analysed = (stem, self._synonyms.get((stem,), (stem,)))
            if len(word) <= _CACHED_WORD_LENGTH:
                if len(self._words) >= _WORD_CACHE_SIZE:
                    self._words.clear()
                self._words[word] = analysed
        return analysed

    def terms(self, text: str) -> list[str]:
        """Index terms of ``text`` in order; phrases first, then stopwords, then synonyms."""
        return self.terms_of_words(_words(text))

    def terms_of_words(self, words: Sequence[str]) -> list[str]:
        """Index terms of words that :func:`_words` split."""
        analysed = [self._analyse(word) for word in words]
        terms: list[str] = []
        i = 0
        while i < len(analysed):
            stem, word_terms = analysed[i]
            size = 1
            if stem in self._phrase_starts:
                size = self._phrase_at(analysed, i)
            if size > 1:
                terms.extend(self._synonyms[tuple(stem for stem, _ in analysed[i : i + size])])
            else:
                terms.extend(word_terms)
            i += size
        return terms

    def _phrase_at(self, analysed: list[tuple[str, tuple[str, ...]]], start: int) -> int:
        """Length of the longest synonym phrase starting at ``start``, or 1 if none does."""
        for size in range(min(self._longest_phrase, len(analysed) - start), 1, -1):
            if tuple(stem for stem, _ in analysed[start : start + size]) in self._synonyms:
                return size
        return 1


def _deletions(term: str) -> Iterator[str]:
    for i in range(len(term)):
        yield term[:i] + term[i + 1 :]


def _one_typo_apart(a: str, b: str) -> bool:
    """At most one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) != len(b):
        shorter, longer = sorted((a, b), key=len)
        return shorter[i:] == longer[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    swapped = i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i]
    return swapped and a[i + 2 :] == b[i + 2 :]


_POSTING_BYTES = 12
"""A posting: a 4-byte position and an 8-byte share."""

_TERM_BYTES = 60
"""A term's key besides its string: its slot in the table (with spare room) and its start."""

_VARIANT_BYTES = 35
"""A typo variant's key besides its string: the slot and the table's spare room."""

_SHARED_VARIANT_BYTES = 56
"""One more term on a variant: a tuple replacing the string (or a longer one the shorter)."""

_ID_BYTES = 8
"""An entry's slot in the id list, besides the id string."""

_BASE_BYTES = 2_000
"""An empty index: the object and its empty tables."""


@dataclass(frozen=True, slots=True)
class _Postings:
    """Every term's (entry position, share) rows, in compressed sparse rows."""

    slots: dict[str, int]
    starts: array[int]
    positions: array[int]
    shares: array[float]

    def frequency(self, term: str) -> int:
        """Entries the term occurs in."""
        slot = self.slots[term]
        return self.starts[slot + 1] - self.starts[slot]


Variants = dict[str, str | tuple[str, ...]]
"""Each typo variant maps to the one known term it comes from (the usual case) or several.

An index holds almost no object the garbage collector tracks: postings are three arrays of
machine numbers and a dictionary of ints, and variants are strings, or the odd tuple of strings
(which the collector stops tracking). With a list per term and per variant, every collection
walked hundreds of thousands of them, holding the interpreter lock that requests need.
"""


def _attach(variants: Variants, variant: str, term: str) -> None:
    known = variants.get(variant)
    if known is None:
        variants[variant] = term
    elif isinstance(known, str):
        variants[variant] = (known, term)
    else:
        variants[variant] = (*known, term)


def _str_bytes(text: str) -> int:
    return sys.getsizeof(text)


@dataclass(slots=True)
class _Entry:
    """An analysed entry, kept only until the index is built."""

    question: list[str]
    answer: list[str]
    tags: list[str]

    def field(self, name: str) -> list[str]:
        return (
            self.question if name == "question" else self.answer if name == "answer" else self.tags
        )


class IndexBuilder:
    """Analyses entries a batch at a time and stops taking them at the bot's caps.

    The typo table is filled as entries come in, so the estimate of the index's size is
    counted from the structures themselves (each new string's real size, each new key and
    posting at a measured average) and the build never grows the index past ``max_bytes``.
    Nothing is built lazily later: querying a finished index never allocates a table.
    """

    def __init__(
        self,
        language: str = "en",
        *,
        max_bytes: int | None = None,
        max_words: int = DEFAULT_MAX_WORDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        pause: Callable[[], None] | None = None,
    ) -> None:
        self._analyzer = _analyzer_for(language)
        self.max_bytes = max_bytes
        self.max_words = max_words
        self.max_entries = max_entries
        self._pause = pause
        """Called every ``PAUSE_EVERY`` terms: a build on a thread lets the event loop run."""
        self.estimated_bytes = _BASE_BYTES
        self.words = 0
        self.complete = True
        """False once an entry did not fit: it and every later one are left out."""
        self._ids: list[str] = []
        self._entries: list[_Entry] = []
        self._frequency: dict[str, int] = {}
        self._variants: Variants = {}

    def add(self, documents: Sequence[Document]) -> bool:
        """Take entries in order until one does not fit; False once the index is full."""
        for document in documents:
            if not self.complete:
                return False
            if not self._add(document):
                self.complete = False
                return False
        return True

    def _analyse(self, document: Document) -> tuple[_Entry, int]:
        budget = MAX_WORDS_PER_ENTRY
        words = _words(document.question)[:budget]
        question = self._analyzer.terms_of_words(words)
        budget -= len(words)
        tags: list[str] = []
        for tag in document.tags:
            words = _words(tag)[:budget]
            tags.extend(self._analyzer.terms_of_words(words))
            budget -= len(words)
        words = _words(document.answer)[:budget]
        answer = self._analyzer.terms_of_words(words)
        budget -= len(words)
        return _Entry(question, answer, tags), MAX_WORDS_PER_ENTRY - budget

    def _add(self, document: Document) -> bool:
        if len(self._ids) >= self.max_entries:
            return False
        entry, words = self._analyse(document)
        if self.words + words > self.max_words:
            return False
        distinct = set(entry.question) | set(entry.answer) | set(entry.tags)
        new_terms = [term for term in distinct if term not in self._frequency]
        fresh: dict[str, str] = {}  # variant -> the new term it comes from
        shared: list[tuple[str, str]] = []  # (variant, term) when new terms share a variant
        pause = self._pause
        for number, term in enumerate(new_terms):
            if pause is not None and number % PAUSE_EVERY == PAUSE_EVERY - 1:
                pause()
            if _MIN_TYPO_LENGTH <= len(term) <= MAX_TYPO_LENGTH:
                for variant in {term, *_deletions(term)}:
                    if variant in fresh:
                        shared.append((variant, term))
                    else:
                        fresh[variant] = term
        variants = self._variants
        cost = (
            _str_bytes(document.id)
            + _ID_BYTES
            + len(distinct) * _POSTING_BYTES
            + sum(_str_bytes(term) + _TERM_BYTES for term in new_terms)
            + len(shared) * _SHARED_VARIANT_BYTES
        )
        for variant in fresh:
            if variant in variants:
                cost += _SHARED_VARIANT_BYTES
            else:
                cost += _str_bytes(variant) + _VARIANT_BYTES
        if self.max_bytes is not None and self.estimated_bytes + cost > self.max_bytes:
            return False
        self.estimated_bytes += cost
        self.words += words
        self._ids.append(document.id)
        self._entries.append(entry)
        for term in distinct:
            self._frequency[term] = self._frequency.get(term, 0) + 1
        for variant, term in fresh.items():
            _attach(variants, variant, term)
        for variant, term in shared:
            _attach(variants, variant, term)
        return True

    def build(self) -> KnowledgeIndex:
        """The finished index; the builder is spent afterwards."""
        entries, self._entries = self._entries, []
        average_length = {
            name: max(1.0, sum(len(e.field(name)) for e in entries) / max(1, len(entries)))
            for name in FIELD_WEIGHTS
        }
        ideal = FIELD_WEIGHTS["question"] / (K1 + FIELD_WEIGHTS["question"])
        # Postings in compressed sparse rows: term -> slot, a slot's rows from starts[slot] to
        # starts[slot + 1] in the positions and shares arrays, sized from the entry counts.
        slots: dict[str, int] = {}
        starts = array("I")
        total = 0
        for term, count in self._frequency.items():
            slots[term] = len(starts)
            starts.append(total)
            total += count
        starts.append(total)
        positions = array("I", [0]) * total
        shares = array("d", [0.0]) * total
        free = array("I", starts)
        for position, entry in enumerate(entries):
            if self._pause is not None:
                self._pause()
            # BM25F: every occurrence adds its field's weight, normalised by the field's length.
            pseudo_frequency: dict[str, float] = {}
            for name, weight in FIELD_WEIGHTS.items():
                field = entry.field(name)
                per_occurrence = weight / (1 - B + B * len(field) / average_length[name])
                for term in field:
                    pseudo_frequency[term] = pseudo_frequency.get(term, 0.0) + per_occurrence
            for term, tf in pseudo_frequency.items():
                share = tf / (K1 + tf) / ideal
                slot = slots[term]
                row = free[slot]
                free[slot] = row + 1
                positions[row] = position
                shares[row] = share if share < 1.0 else 1.0
        return KnowledgeIndex._of(
            self._analyzer,
            self._ids,
            _Postings(slots, starts, positions, shares),
            self._variants,
            estimated_bytes=self.estimated_bytes,
            complete=self.complete,
        )


class KnowledgeIndex:
    """Built once from a bot's documents; cheap to query many times.

    Each term's postings store its BM25F saturation per entry already divided by the ideal
    saturation, so a query only adds up precomputed numbers for the entries sharing its terms.
    ``estimated_bytes`` is what the index holds in memory, as :class:`IndexBuilder` counted it;
    ``complete`` is False when some entries were left out at the caps.
    """

    _analyzer: _Analyzer
    _ids: list[str]
    _postings: _Postings
    _variants: Variants
    estimated_bytes: int
    complete: bool
    postings: int
    """(term, entry) pairs: the most work one query can do."""

    def __init__(
        self, documents: Sequence[Document], language: str = "en", *, max_bytes: int | None = None
    ) -> None:
        builder = IndexBuilder(language, max_bytes=max_bytes)
        builder.add(documents)
        self._take(builder.build())

    @classmethod
    def _of(
        cls,
        analyzer: _Analyzer,
        ids: list[str],
        postings: _Postings,
        variants: Variants,
        *,
        estimated_bytes: int,
        complete: bool,
    ) -> KnowledgeIndex:
        index = cls.__new__(cls)
        index._analyzer = analyzer
        index._ids = ids
        index._postings = postings
        index._variants = variants
        index.estimated_bytes = estimated_bytes
        index.complete = complete
        index.postings = len(postings.positions)
        return index

    def _take(self, other: KnowledgeIndex) -> None:
        self._analyzer = other._analyzer
        self._ids = other._ids
        self._postings = other._postings
        self._variants = other._variants
        self.estimated_bytes = other.estimated_bytes
        self.complete = other.complete
        self.postings = other.postings

    def __len__(self) -> int:
        """Entries in the index."""
        return len(self._ids)

    def _idf(self, document_frequency: int) -> float:
        """Okapi idf, kept positive; unseen words get the largest value on purpose."""
        n = len(self._ids)
        return math.log(1 + (n - document_frequency + 0.5) / (document_frequency + 0.5))

    def _correct(self, term: str) -> str | None:
        """A known term at most one typo away (SymSpell-style deletions), the most common one."""
        if not _MIN_TYPO_LENGTH <= len(term) <= MAX_TYPO_LENGTH + 1:
            return None
        candidates: set[str] = set()
        for variant in (term, *_deletions(term)):
            known = self._variants.get(variant)
            if isinstance(known, str):
                candidates.add(known)
            elif known is not None:
                candidates.update(known)
        candidates = {known for known in candidates if _one_typo_apart(term, known)}
        if not candidates:
            return None
        postings = self._postings
        return max(candidates, key=lambda known: (postings.frequency(known), known))

    def rank(self, query: str, limit: int = 5) -> list[Match]:
        """Best entries first, only those sharing at least one term with the query."""
        terms = list(dict.fromkeys(self._analyzer.terms(query)))
        if not terms or not self._ids or limit <= 0:
            return []
        scores: defaultdict[int, float] = defaultdict(float)
        total_weight = 0.0
        postings = self._postings
        positions, shares = postings.positions, postings.shares
        for term in terms:
            slot = postings.slots.get(term)
            if slot is None:
                known = self._correct(term)
                slot = postings.slots[known] if known is not None else None
            if slot is None:
                total_weight += self._idf(0)
                continue
            start, end = postings.starts[slot], postings.starts[slot + 1]
            weight = self._idf(end - start)
            total_weight += weight
            for row in range(start, end):
                scores[positions[row]] += weight * shares[row]
        best = heapq.nsmallest(
            limit,
            ((-score, self._ids[position]) for position, score in scores.items() if score > 0),
        )
        return [Match(id=doc_id, score=min(1.0, -score / total_weight)) for score, doc_id in best]

    def best(self, query: str, threshold: float) -> Match | None:
        """The top match if it reaches ``threshold``, else None (the bot uses its fallback)."""
        top = self.rank(query, limit=1)
        return top[0] if top and top[0].score >= threshold else None


def rank(
    query: str, documents: Sequence[Document], language: str = "en", limit: int = 5
) -> list[Match]:
    """One-off ranking; build a KnowledgeIndex instead when answering many messages."""
    return KnowledgeIndex(documents, language).rank(query, limit)
