"""Unit tests of the pipeline's own helpers (`make test` runs them; the model tests skip until `flowtide run`)."""

from penguins_pipeline.prepare import held_out


def test_the_hold_out_is_stable_and_about_the_asked_share():
    ids = [str(i) for i in range(1, 2001)]
    first = [held_out(i, 0.2) for i in ids]
    assert first == [held_out(i, 0.2) for i in ids]
    assert 0.17 <= sum(first) / len(ids) <= 0.23
