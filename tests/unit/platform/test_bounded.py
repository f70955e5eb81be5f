from mandi.platform.bounded import drop_oldest


def test_a_full_cache_drops_its_oldest_half_and_keeps_the_newest() -> None:
    cache = {k: k for k in range(10)}
    drop_oldest(cache, 10)
    assert len(cache) == 10  # at the limit: nothing dropped
    cache[10] = 10
    drop_oldest(cache, 10)
    assert list(cache) == [6, 7, 8, 9, 10]  # the newest half of the limit
    cache[6] = -6  # an update keeps its place: age is first insertion
    for k in range(11, 17):
        cache[k] = k
    drop_oldest(cache, 10)
    assert list(cache) == [12, 13, 14, 15, 16]
