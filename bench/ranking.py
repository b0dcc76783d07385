"""Cost of the knowledge ranking behind every bot reply: building an index, answering a message.

Run: .venv/bin/python bench/ranking.py [entries] [queries]

The knowledge base is synthetic but shaped like a real one (question templates over a support
vocabulary, answers of a few sentences, a couple of tags), generated from a fixed seed so runs
compare. The first build pays for analysing every new word; later builds of the same words hit
the shared word cache, which is what a rebuild after one edited entry costs. The API keeps
built indexes per bot, so a message normally pays only the query.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from botyard.conversations.ranking import DEFAULT_ANSWER_THRESHOLD, Document, KnowledgeIndex

T = TypeVar("T")

TEMPLATES = (
    "How do I {verb} my {noun}?",
    "Can I {verb} the {noun} from the {place}?",
    "Why does the {noun} {verb} when I use {other}?",
    "What happens to my {noun} if I {verb} my {other}?",
    "Is it possible to {verb} {other} with the {noun}?",
    "Where can I find the {noun} {other} settings?",
)
VERBS = [
    "cancel",
    "change",
    "connect",
    "delete",
    "download",
    "export",
    "import",
    "install",
    "pause",
    "print",
    "refund",
    "register",
    "renew",
    "reset",
    "restore",
    "schedule",
    "share",
    "sync",
    "transfer",
    "update",
    "upgrade",
    "verify",
]
NOUNS = [
    "account",
    "address",
    "app",
    "backup",
    "badge",
    "barcode",
    "basket",
    "battery",
    "bill",
    "budget",
    "calendar",
    "card",
    "cart",
    "certificate",
    "channel",
    "checkout",
    "contract",
    "coupon",
    "currency",
    "customer",
    "dashboard",
    "device",
    "discount",
    "document",
    "domain",
    "driver",
    "email",
    "employee",
    "invoice",
    "label",
    "language",
    "licence",
    "location",
    "login",
    "menu",
    "order",
    "parcel",
    "password",
    "payment",
    "payout",
    "permission",
    "phone",
    "plan",
    "printer",
    "product",
    "profile",
    "receipt",
    "reader",
    "refund",
    "report",
    "role",
    "router",
    "scanner",
    "schedule",
    "seat",
    "shift",
    "shop",
    "signature",
    "stock",
    "store",
    "subscription",
    "supplier",
    "tablet",
    "tax",
    "team",
    "terminal",
    "ticket",
    "timezone",
    "tip",
    "token",
    "transaction",
    "voucher",
    "wallet",
    "warehouse",
    "webhook",
]
PLACES = ["app", "website", "dashboard", "terminal", "tablet", "phone", "browser", "kiosk"]
FILLER = [
    "you",
    "can",
    "do",
    "this",
    "under",
    "Settings",
    "at",
    "any",
    "time",
    "and",
    "the",
    "change",
    "applies",
    "at",
    "once",
    "to",
    "every",
    "location",
    "of",
    "your",
    "business",
    "unless",
    "an",
    "administrator",
    "has",
    "locked",
    "it",
    "for",
    "the",
    "whole",
    "team",
]


def knowledge_base(size: int, rng: random.Random) -> list[Document]:
    documents = []
    for number in range(size):
        noun, other = rng.sample(NOUNS, 2)
        question = rng.choice(TEMPLATES).format(
            verb=rng.choice(VERBS), noun=noun, other=other, place=rng.choice(PLACES)
        )
        answer = " ".join(rng.choices(FILLER + [noun, other] * 3, k=rng.randint(20, 60))) + "."
        documents.append(Document(f"kb_{number}", question, answer, (noun, rng.choice(NOUNS))))
    return documents


def messages(documents: list[Document], count: int, rng: random.Random) -> list[str]:
    """Mostly shuffled fragments of entry questions with a stray word; some off-topic."""
    result = []
    for _ in range(count):
        if rng.random() < 0.2:
            result.append(rng.choice(("what's the weather", "tell me a joke", "pizza near me")))
            continue
        words = rng.choice(documents).question.rstrip("?").split()
        kept = rng.sample(words, k=max(2, len(words) * 2 // 3))
        result.append(" ".join([*kept, rng.choice(("please", "asap", "today", "quickly"))]))
    return result


def timed_ms(action: Callable[..., T], *args: object) -> tuple[float, T]:
    start = time.perf_counter_ns()
    result = action(*args)
    return (time.perf_counter_ns() - start) / 1e6, result


def main(size: int, query_count: int) -> None:
    rng = random.Random(42)
    documents = knowledge_base(size, rng)
    cold_ms, index = timed_ms(KnowledgeIndex, documents)
    rebuilds = [timed_ms(KnowledgeIndex, documents)[0] for _ in range(5)]
    queries = messages(documents, query_count, rng)
    # The typo table is built with the index, so the first misspelt word costs no more.
    first_typo_ms, _ = timed_ms(index.rank, "how do I chnage my pasword")
    for query in queries[:50]:
        index.rank(query)
    samples = sorted(timed_ms(index.best, q, DEFAULT_ANSWER_THRESHOLD)[0] for q in queries)
    answered = sum(index.best(q, DEFAULT_ANSWER_THRESHOLD) is not None for q in queries)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"knowledge index of {size} entries")
    print(f"  build, cold word cache:   {cold_ms:8.1f} ms")
    print(f"  build, warm (median of 5): {statistics.median(rebuilds):7.1f} ms")
    print(f"  first typo after a build:  {first_typo_ms:7.1f} ms")
    print(f"query, {query_count} messages ({answered} above the threshold)")
    print(f"  mean {statistics.fmean(samples):.3f} ms per query, p99 {p99:.3f} ms")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 500,
        int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
    )
