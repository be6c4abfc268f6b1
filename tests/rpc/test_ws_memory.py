"""WaveRelease: memory is released once after a wave of disconnects, not during steady churn."""

from __future__ import annotations

from wirechat.rpc.ws.memory import WaveRelease, release_memory


def _wave(min_wave: int, interval: float) -> tuple[WaveRelease, list[float]]:
    released: list[float] = []
    wave = WaveRelease(min_wave=min_wave, interval=interval, release=lambda: released.append(1.0))
    return wave, released


def test_releases_once_when_a_wave_has_ended() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    for t, n in enumerate([0, 5000, 10000, 10000, 6000, 2000, 1]):
        assert not wave.observe(n, float(t))  # rising, then still falling
    assert wave.observe(1, 7.0)  # no longer falling: the wave is over
    assert released == [1.0]
    assert not wave.observe(1, 8.0)  # once per wave


def test_steady_churn_never_releases() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    for t in range(200):
        wave.observe(10000 - (t % 2) * 600, float(t))  # 600 come and go, again and again
    assert released == []


def test_small_waves_and_quick_repeats_are_ignored() -> None:
    wave, released = _wave(min_wave=1000, interval=10)
    wave.observe(1500, 0.0)
    wave.observe(600, 1.0)
    assert not wave.observe(600, 2.0)  # 900 gone: under min_wave
    wave.observe(5000, 3.0)
    wave.observe(100, 4.0)
    assert wave.observe(100, 5.0)
    wave.observe(5000, 6.0)
    wave.observe(100, 7.0)
    assert not wave.observe(100, 8.0)  # within the interval of the last release
    assert wave.observe(100, 15.5)
    assert len(released) == 2


def test_release_memory_runs_here() -> None:
    release_memory()  # a full collection, and malloc_trim where the C library has it
