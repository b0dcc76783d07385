"""Tests for the knowledge-base ranking that decides whether a bot answers or falls back."""

import gc
import random
import tracemalloc

import pytest

from botyard.conversations.ranking import (
    DEFAULT_ANSWER_THRESHOLD,
    MAX_TYPO_LENGTH,
    MAX_WORD_LENGTH,
    MAX_WORDS_PER_ENTRY,
    Document,
    IndexBuilder,
    KnowledgeIndex,
    Match,
    _Analyzer,
    _analyzer_for,
    _one_typo_apart,
    rank,
)

from .reply_quality_set import KNOWLEDGE_BASE, LABELLED_QUESTIONS, UNRELATED_QUESTIONS

DOCS = (
    Document("refund", "How do I get a refund?", "Refunds are paid within 5 days.", ("billing",)),
    Document("password", "How do I reset my password?", "Use the forgot-password link."),
    Document("hours", "When are you open?", "Monday to Friday, 9 to 5.", ("support",)),
)


def terms(text: str, language: str = "en") -> list[str]:
    return _analyzer_for(language).terms(text)


def test_tokenizer_lowercases_strips_punctuation_and_stopwords() -> None:
    assert terms("Where is MY Parcel?!") == ["parcel"]
    assert terms("order_id: 1234") == ["order", "id", "1234"]


def test_contractions_are_split_and_their_pieces_dropped() -> None:
    assert terms("I can't log in, it's broken") == ["login", "problem"]
    assert terms("I’m locked out — can’t sign-in") == ["lock", "login"]


def test_stemming_groups_inflections() -> None:
    assert terms("refunds refunded refunding") == ["refund", "refund", "refund"]
    assert terms("Remboursements", "fr") == terms("remboursement", "fr")


def test_french_elisions_and_stopwords_are_removed() -> None:
    assert terms("J'ai commandé des lecteurs de cartes", "fr") == ["command", "lecteur", "cart"]


def test_synonyms_map_support_vocabulary_onto_one_term() -> None:
    assert terms("money back") == terms("refund") == terms("reimbursement")
    assert terms("log in") == terms("sign in") == terms("Log-in") == terms("login")
    assert terms("passcode") == terms("password")
    assert terms("cost") == terms("pricing") == terms("prices")
    assert terms("cancelled") == terms("terminate")
    assert terms("e-mail") == terms("email")
    assert terms("close my account") == terms("delete account")


def test_synonym_table_rejects_a_word_stemming_into_two_groups() -> None:
    analyzer = _Analyzer("en")
    with pytest.raises(ValueError, match="two groups"):
        analyzer._load_synonyms([("cancel", "terminate"), ("hardware", "terminal")])


def test_language_codes_pick_a_stemmer_and_unknown_ones_do_not_stem() -> None:
    assert terms("Refunds", "en-GB") == terms("refund", "EN_us") == ["refund"]
    assert terms("Refunds", "tlh") == ["refunds"]
    docs = [Document("r", "Refund policy", "We refund within 30 days.")]
    assert [m.id for m in rank("refunded?", docs, language="en")] == ["r"]
    assert rank("refunded?", docs, language="xx") == []
    assert [m.id for m in rank("refund", docs, language="xx")] == ["r"]


def test_empty_inputs_give_no_matches() -> None:
    index = KnowledgeIndex(DOCS)
    assert KnowledgeIndex([]).rank("refund") == []
    assert rank("refund", []) == []
    assert index.rank("") == []
    assert index.rank("?!  ...") == []
    assert index.rank("how do I do it?") == []
    assert index.rank("refund", limit=0) == []
    assert index.best("how do I do it?", threshold=0.0) is None


def test_scores_are_normalised_between_zero_and_one() -> None:
    docs = [*KNOWLEDGE_BASE, Document("echo", "refund refund refund", "refund " * 50, ("refund",))]
    index = KnowledgeIndex(docs)
    queries = [q for q, _ in LABELLED_QUESTIONS] + list(UNRELATED_QUESTIONS) + ["refund"]
    for query in queries:
        for match in index.rank(query, limit=len(docs)):
            assert 0.0 < match.score <= 1.0


def test_every_entry_ranks_first_for_its_own_question() -> None:
    index = KnowledgeIndex(KNOWLEDGE_BASE)
    for document in KNOWLEDGE_BASE:
        top = index.rank(document.question, limit=1)
        assert top[0].id == document.id
        assert top[0].score >= 0.9


def test_results_are_best_first_and_respect_the_limit() -> None:
    index = KnowledgeIndex(KNOWLEDGE_BASE)
    matches = index.rank("how do I change my card, plan or password", limit=4)
    assert len(matches) == 4
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)


def test_question_field_outweighs_answer_field() -> None:
    docs = [
        Document("in-answer", "Where is the office?", "Parking is behind the building."),
        Document("in-question", "Is there parking?", "Yes, behind the office."),
    ]
    matches = rank("parking", docs)
    assert [m.id for m in matches] == ["in-question", "in-answer"]
    assert matches[0].score == pytest.approx(1.0)
    assert 0.4 < matches[1].score < 0.8


def test_unmatched_words_lower_the_score() -> None:
    index = KnowledgeIndex(KNOWLEDGE_BASE)
    alone = index.rank("refund")[0]
    diluted = index.rank("refund for my pizza")[0]
    assert alone.id == diluted.id == "refund-policy"
    assert alone.score == pytest.approx(1.0)
    assert diluted.score < DEFAULT_ANSWER_THRESHOLD


def test_repeating_a_word_in_the_query_does_not_inflate_it() -> None:
    index = KnowledgeIndex(KNOWLEDGE_BASE)
    assert index.rank("refund pizza") == index.rank("refund refund refund pizza")


def test_best_applies_the_threshold() -> None:
    index = KnowledgeIndex(DOCS)
    assert index.best("refund please", threshold=DEFAULT_ANSWER_THRESHOLD) == Match("refund", 1.0)
    assert index.best("refund please", threshold=1.0) is not None
    assert index.best("weather in Paris", threshold=DEFAULT_ANSWER_THRESHOLD) is None
    assert index.best("password and refund", threshold=0.9) is None


def test_one_typo_is_forgiven_on_longer_words_only() -> None:
    index = KnowledgeIndex(KNOWLEDGE_BASE)
    assert index.rank("pasword")[0] == index.rank("password")[0]
    assert index.rank("passwrod")[0].id == "password-reset"
    assert index.rank("kye") == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("password", "pasword", True),
        ("pasword", "password", True),
        ("password", "passwprd", True),
        ("password", "passowrd", True),
        ("ab", "ba", True),
        ("translat", "transact", False),
        ("abcd", "acdb", False),
        ("abc", "abcde", False),
    ],
)
def test_one_typo_apart(a: str, b: str, expected: bool) -> None:
    assert _one_typo_apart(a, b) is expected


def test_module_rank_matches_the_index() -> None:
    query = "how do I get my money back"
    assert rank(query, KNOWLEDGE_BASE, limit=3) == KnowledgeIndex(KNOWLEDGE_BASE).rank(query, 3)


def test_document_order_does_not_change_the_ranking() -> None:
    expected = KnowledgeIndex(KNOWLEDGE_BASE)
    shuffled = list(KNOWLEDGE_BASE)
    random.Random(7).shuffle(shuffled)
    index = KnowledgeIndex(shuffled)
    for query, _ in LABELLED_QUESTIONS:
        got = [(m.id, round(m.score, 9)) for m in index.rank(query)]
        assert got == [(m.id, round(m.score, 9)) for m in expected.rank(query)]


def test_reply_quality(capsys: pytest.CaptureFixture[str]) -> None:
    """Acceptance: paraphrases get the right answer, off-topic messages get the fallback."""
    index = KnowledgeIndex(KNOWLEDGE_BASE)
    right = 0
    for question, expected in LABELLED_QUESTIONS:
        match = index.best(question, DEFAULT_ANSWER_THRESHOLD)
        right += match is not None and match.id == expected
    fallbacks = sum(
        index.best(question, DEFAULT_ANSWER_THRESHOLD) is None for question in UNRELATED_QUESTIONS
    )
    total, unrelated = len(LABELLED_QUESTIONS), len(UNRELATED_QUESTIONS)
    accuracy = right / total
    with capsys.disabled():
        print(
            f"\nreply quality: {right}/{total} = {accuracy:.0%}  "
            f"unrelated fallback: {fallbacks}/{unrelated}"
        )
    assert accuracy >= 0.80
    assert fallbacks == unrelated


def test_labelled_set_is_big_enough_and_consistent() -> None:
    ids = {document.id for document in KNOWLEDGE_BASE}
    assert len(ids) == len(KNOWLEDGE_BASE) >= 20
    assert len(LABELLED_QUESTIONS) >= 40
    assert len(UNRELATED_QUESTIONS) >= 10
    assert {expected for _, expected in LABELLED_QUESTIONS} <= ids
    entry_questions = {document.question.casefold() for document in KNOWLEDGE_BASE}
    assert not {question.casefold() for question, _ in LABELLED_QUESTIONS} & entry_questions


def test_words_longer_than_the_cap_are_cut_and_still_match() -> None:
    long_word = "x" * 9_990
    (term,) = terms(long_word)
    assert len(term) == MAX_WORD_LENGTH
    index = KnowledgeIndex([Document("long", long_word, "Answer."), *DOCS])
    assert index.rank(long_word)[0] == Match("long", 1.0)
    assert index.rank("x" * 5_000 + "y")[0].id == "long"  # the same first 64 characters


def test_typos_are_corrected_up_to_the_typo_length_only() -> None:
    ok = "abcdefghij" * 3 + "kl"  # 32 characters
    too_long = "zyxwvutsrq" * 3 + "pon"  # 33 characters
    index = KnowledgeIndex([Document("ok", ok, "A."), Document("long", too_long, "B.")])
    assert len(ok) == MAX_TYPO_LENGTH
    assert index.rank(ok[:9] + ok[10:])[0].id == "ok"  # one letter dropped
    assert index.rank(too_long[:9] + too_long[10:]) == []  # matched exactly or not at all
    assert index.rank(too_long)[0].id == "long"


def test_an_entry_contributes_its_first_words_only() -> None:
    filler = " ".join(f"w{i}" for i in range(MAX_WORDS_PER_ENTRY))
    index = KnowledgeIndex([Document("big", "question", filler + " needle")])
    assert index.rank("w7")[0].id == "big"
    assert index.rank("needle") == []


def random_words(rng: random.Random, count: int, low: int, high: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(low, high))) for _ in range(count)
    )


def test_the_builder_stops_at_the_byte_cap_and_keeps_the_oldest_entries() -> None:
    rng = random.Random(7)
    documents = [
        Document(f"kb_{i}", chr(97 + i) * 6, random_words(rng, 300, 5, 9)) for i in range(20)
    ]
    full = KnowledgeIndex(documents)
    capped = KnowledgeIndex(documents, max_bytes=full.estimated_bytes // 3)
    assert full.complete and len(full) == 20
    assert not capped.complete
    assert 0 < len(capped) < 20
    assert capped.estimated_bytes <= full.estimated_bytes // 3
    assert capped.rank("aaaaaa")[0].id == "kb_0"
    assert full.rank("tttttt")[0].id == "kb_19"
    assert capped.rank("tttttt") == []


def test_the_builder_stops_at_the_word_and_entry_caps() -> None:
    documents = [Document(f"kb_{i}", f"alpha{i} beta", "gamma") for i in range(10)]
    by_words = IndexBuilder(max_words=9)
    assert by_words.add(documents) is False
    assert len(by_words.build()) == 3  # three words per entry
    by_entries = IndexBuilder(max_entries=4)
    assert by_entries.add(documents) is False
    assert by_entries.add(documents[:1]) is False  # full stays full
    index = by_entries.build()
    assert (len(index), index.complete) == (4, False)


@pytest.mark.parametrize(
    ("shape", "count", "low", "high"),
    [("prose", 600, 4, 8), ("long words", 120, 20, 40), ("faq", 80, 3, 9)],
)
def test_the_size_estimate_is_never_below_the_measured_size(
    shape: str, count: int, low: int, high: int
) -> None:
    """The process cap is only as good as the estimate: measured with tracemalloc it is never
    less than what the index really holds, and not much more."""
    rng = random.Random(shape)
    documents = [
        Document(
            f"kb_{i:024d}", random_words(rng, 10, low, high), random_words(rng, count, low, high)
        )
        for i in range(6)
    ]
    KnowledgeIndex(documents)  # the analyzer's word memo is shared, not part of an index
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = KnowledgeIndex(documents)
        gc.collect()
        measured = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert measured <= index.estimated_bytes <= 1.6 * measured, (measured, index.estimated_bytes)


def test_stemming_uses_the_c_stemmers() -> None:
    """PyStemmer's C Snowball stemmers, not the pure-Python ones, which took two thirds of an
    index build's time (and its interpreter lock) on a knowledge base of distinct words."""
    stemmer = _analyzer_for("en")._stemmer
    assert type(stemmer).__module__ == "Stemmer"


def test_an_index_leaves_almost_nothing_for_the_garbage_collector_to_walk() -> None:
    """Each collection walks every tracked object while holding the interpreter lock; an index
    of 20,000 terms must not add tens of thousands of them (lists or arrays per term did)."""
    rng = random.Random(9)
    documents = [
        Document(f"kb_{i}", f"question {i}", random_words(rng, 1_000, 5, 9)) for i in range(12)
    ]
    gc.collect()
    before = len(gc.get_objects())
    index = KnowledgeIndex(documents)
    gc.collect()
    assert index.postings > 10_000
    assert len(gc.get_objects()) - before < 500
