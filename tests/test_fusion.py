import pytest

from pipeline.store.fusion import RANK_CONSTANT, ranked_fusion, relative_score_fusion


def test_relative_fusion_normalises_each_set_and_weights_them():
    keyword = [("a", 10.0), ("b", 5.0), ("c", 0.0)]
    vector = [("c", 0.9), ("a", 0.5), ("d", 0.1)]
    fused = dict(relative_score_fusion([keyword, vector], [0.25, 0.75]))
    assert fused["a"] == pytest.approx(0.25 * 1.0 + 0.75 * 0.5)
    assert fused["b"] == pytest.approx(0.25 * 0.5)
    assert fused["c"] == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)
    assert fused["d"] == pytest.approx(0.0)


def test_relative_fusion_orders_best_first():
    fused = relative_score_fusion([[("a", 1.0), ("b", 3.0), ("c", 2.0)]], [1.0])
    assert [doc for doc, _ in fused] == ["b", "c", "a"]


def test_empty_sets_give_nothing():
    assert relative_score_fusion([[], []], [0.5, 0.5]) == []
    assert ranked_fusion([[], []], [0.5, 0.5]) == []


def test_single_set_keeps_its_order_and_scales_by_weight():
    fused = relative_score_fusion([[("x", 2.0), ("y", 4.0)]], [0.5])
    assert fused == [("y", pytest.approx(0.5)), ("x", pytest.approx(0.0))]


def test_all_equal_scores_each_get_the_full_weight():
    fused = dict(relative_score_fusion([[("a", 3.0), ("b", 3.0)], [("a", 0.2)]], [0.4, 0.6]))
    assert fused == {"a": pytest.approx(1.0), "b": pytest.approx(0.4)}


def test_ids_in_one_set_only_get_zero_from_the_other():
    fused = dict(relative_score_fusion([[("a", 1.0), ("b", 0.0)], [("c", 1.0), ("d", 0.0)]], [0.3, 0.7]))
    assert fused == {"a": pytest.approx(0.3), "b": 0.0, "c": pytest.approx(0.7), "d": 0.0}


def test_ranked_fusion_uses_reciprocal_rank():
    fused = dict(ranked_fusion([[("a", 9.0), ("b", 1.0)], [("b", 0.9)]], [0.5, 0.5]))
    assert fused["a"] == pytest.approx(0.5 / RANK_CONSTANT)
    assert fused["b"] == pytest.approx(0.5 / (1 + RANK_CONSTANT) + 0.5 / RANK_CONSTANT)


def test_ranked_fusion_ranks_by_score_not_input_order():
    fused = ranked_fusion([[("low", 0.1), ("high", 0.9)]], [1.0])
    assert [doc for doc, _ in fused] == ["high", "low"]


def test_ties_are_broken_by_id_for_determinism():
    assert relative_score_fusion([[("b", 1.0), ("a", 1.0)]], [1.0]) == [("a", 1.0), ("b", 1.0)]


def test_mismatched_weights_are_rejected():
    with pytest.raises(ValueError, match="2 result sets but 1 weights"):
        relative_score_fusion([[], []], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        ranked_fusion([[]], [-0.1])


def test_a_unique_first_place_outranks_a_shared_one_at_equal_fused_score():
    # "v" is the unique nearest vector; "k1".."k3" share the best keyword score: all fuse to 0.5.
    keyword = [("k3", 2.0), ("k1", 2.0), ("k2", 2.0), ("x", 1.0)]
    vector = [("v", 0.9), ("y", 0.1)]
    fused = relative_score_fusion([keyword, vector], [0.5, 0.5])
    assert [doc for doc, _ in fused[:4]] == ["v", "k1", "k2", "k3"]
    assert {score for _, score in fused[:4]} == {0.5}
