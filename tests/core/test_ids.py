"""Ids and key bodies: the right alphabet and length, and every character reachable evenly."""

import os
from collections import Counter

from botyard.core.ids import BASE62, new_id, new_time_ordered_id, random_base62, to_base62


def test_new_id_is_prefixed_random_base62() -> None:
    made = {new_id("bot") for _ in range(500)}
    assert len(made) == 500
    for value in made:
        prefix, _, body = value.partition("_")
        assert prefix == "bot" and len(body) == 20 and set(body) <= set(BASE62)


def test_random_base62_uses_the_whole_alphabet_evenly() -> None:
    counts = Counter(random_base62(62_000))
    assert set(counts) == set(BASE62)
    assert all(800 <= n <= 1200 for n in counts.values()), counts.most_common(3)


def test_to_base62_pads_most_significant_digit_first() -> None:
    assert to_base62(0, 6) == "000000"
    assert to_base62(61, 3) == "00z"
    assert to_base62(62, 3) == "010"


def test_time_ordered_ids_sort_by_creation_time_and_stay_unique() -> None:
    at = 1_795_000_000_000  # 2026-11-18, in milliseconds
    earlier = [new_time_ordered_id("req", at) for _ in range(200)]
    later = [new_time_ordered_id("req", at + 1) for _ in range(200)]
    assert len(set(earlier + later)) == 400
    assert max(earlier) < min(later)
    assert all(len(i) == len(new_id("req")) and set(i[4:]) <= set(BASE62) for i in earlier)
    assert new_time_ordered_id("req") > max(later)  # the clock has moved on since then


def test_ids_from_the_pool_are_unique_and_evenly_spread() -> None:
    made = [new_id("req")[4:] for _ in range(5_000)]
    assert len(set(made)) == len(made)
    counts = Counter("".join(made))
    assert set(counts) == set(BASE62)
    assert all(1200 <= n <= 2000 for n in counts.values()), counts.most_common(3)


def test_a_forked_process_never_repeats_the_parents_next_ids() -> None:
    new_id("warm")  # the parent's pool now holds bytes a careless child would reuse
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write_end, "".join(new_id("x") for _ in range(10)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        from_child = pipe.read().decode()
    from_parent = "".join(new_id("x") for _ in range(10))
    assert from_child and from_child != from_parent
