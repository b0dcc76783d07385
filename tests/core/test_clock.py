from datetime import UTC, datetime, timedelta

from botyard.core import clock


def test_module_readers_follow_the_installed_clock() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    frozen = clock.FrozenClock(at)
    previous = clock.set_clock(frozen)
    try:
        assert clock.now() == at
        assert clock.timestamp() == at.timestamp()
        frozen.advance(timedelta(seconds=90))
        assert clock.now() == at + timedelta(seconds=90)
        assert clock.timestamp() == at.timestamp() + 90
    finally:
        clock.set_clock(previous)
    real = clock.now()
    assert real.tzinfo is UTC
    assert abs(real.timestamp() - clock.timestamp()) < 5
    assert abs(real - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_subclass_that_tells_time_its_own_way_is_asked() -> None:
    class Late(clock.Clock):
        def now(self) -> datetime:
            return datetime(2001, 1, 1, tzinfo=UTC)

    previous = clock.set_clock(Late())
    try:
        assert clock.now() == datetime(2001, 1, 1, tzinfo=UTC)
    finally:
        clock.set_clock(previous)
