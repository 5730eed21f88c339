"""The learned back-up for concerns (speech/learned.py): it adds only what the rules missed, only where the client
asks or demands something, nothing rules a concern out and no cue was found, and the shipped model is there."""

from __future__ import annotations

from datetime import datetime

from speech.extract import Extractor
from speech.learned import THRESHOLD, ConcernModel, default_model, train, windows
from speech.lexicon import Lexicon
from speech.rules import CONCERNS

REF = datetime.fromisoformat("2026-11-20T10:00:00+08:00")


def _model(gram: str, label: str) -> ConcernModel:
    """A model that knows one character n-gram, strongly, for one label."""
    weights = {gram: [100.0 if name == label else 0.0 for name in CONCERNS]}
    return ConcernModel(weights, [-4.0] * len(CONCERNS), list(CONCERNS))


def test_the_shipped_model_is_there_with_the_taxonomy_and_the_measured_threshold() -> None:
    model = default_model()
    assert model is not None and model.labels == list(CONCERNS)
    assert THRESHOLD == 0.5


def test_a_concern_in_words_no_cue_knows_is_added_after_the_rules_labels() -> None:
    text = "客户说会员资料是他们的命根子,千万要当心。价格他们嫌贵。"
    rules_alone = Extractor(Lexicon.default(), learned=None).extract(text, REF).concerns
    with_model = Extractor(Lexicon.default(), learned=_model("命根", "数据安全")).extract(text, REF).concerns
    assert rules_alone == ("价格",)
    assert with_model == ("价格", "数据安全")


def test_nothing_is_added_where_the_rep_speaks_or_a_concern_is_ruled_out() -> None:
    extractor = Extractor(Lexicon.default(), learned=_model("命根", "数据安全"))
    assert extractor.extract("我自己觉得会员资料是他们的命根子,千万要当心。", REF).concerns == ()
    assert extractor.extract("会员资料是命根子,要当心,不过他们说无所谓。", REF).concerns == ()


def test_nothing_is_added_where_nothing_is_asked_or_a_cue_was_read() -> None:
    extractor = Extractor(Lexicon.default(), learned=_model("机房", "数据安全"))
    # a plain statement: nothing feared, asked or demanded
    assert extractor.extract("客户说他们的服务器都在省里的机房,这次只加两台。", REF).concerns == ()
    # the rules read this window (业务不能停 is 技术顾虑): the classifier's second label there would be a confusion
    assert extractor.extract("机房搬迁的时候业务不能停。", REF).concerns == ("技术顾虑",)


def test_a_long_sentence_is_read_two_clauses_at_a_time() -> None:
    sentence = "嗯今天去了那家公司,见了他们的总经理,聊了很多东西,最后说到了数据的问题,他们担心资料外流。"
    assert windows(sentence) == ["嗯今天去了那家公司,见了他们的总经理", "见了他们的总经理,聊了很多东西",
                                 "聊了很多东西,最后说到了数据的问题", "最后说到了数据的问题,他们担心资料外流。"]
    assert windows("价格太贵。交期太长。") == ["价格太贵。", "交期太长。"]


def test_training_is_deterministic_and_learns_its_examples() -> None:
    pairs = [("他们嫌价格太贵", {"价格"}), ("数据不能出省", {"数据安全"}), ("今天去拜访了客户", set())] * 3
    first, second = train(pairs, epochs=200), train(pairs, epochs=200)
    assert first == second
    model = ConcernModel.from_json(first)
    p = dict(zip(model.labels, model.probabilities("价格太贵了")))
    assert p["价格"] > 0.5 > p["数据安全"]


def test_the_shipped_model_adds_a_concern_the_cue_families_miss_and_nothing_to_plain_talk() -> None:
    # the kinds round ten's training batch covers, in words of neither the batch nor the cue families (main's model
    # before it, at weight 1 and threshold 0.25, added neither)
    rules = Extractor(Lexicon.default(), learned=None)
    shipped = Extractor(Lexicon.default())
    for text, label in (("客户说要是系统半夜停了,希望有人能马上过来。", "售后响应"),
                        ("客户问能不能等用满半年再把钱打过来。", "付款方式")):
        assert rules.extract(text, REF).concerns == ()
        assert shipped.extract(text, REF).concerns == (label,)
    for text in ("客户说他们的机房下个月要搬到新楼。", "客户问我们下午几点能到。", "客户说钱已经批下来了,随时可以签。"):
        assert shipped.extract(text, REF).concerns == ()


def test_the_sparse_window_gram_matrix_trains_the_same_layer_as_its_dense_form() -> None:
    """`train` hands `fit` the window-gram matrix as its nonzero entries (dense it would take gigabytes); the
    embedding experiment hands it a dense array. Both go through the one gradient descent and must agree."""
    import numpy as np

    from speech.learned import _SparseRows, fit

    rng = np.random.default_rng(7)
    dense = rng.random((30, 9)).astype(np.float32)
    dense[dense < 0.6] = 0
    dense[0] = 1  # every column holds an entry, as every gram of a window-gram matrix does
    labels = (rng.random((30, 4)) > 0.7).astype(np.float32)
    rows, cols = np.nonzero(dense)
    sparse = _SparseRows(list(rows), list(cols), list(dense[rows, cols]), dense.shape)
    for pos_weight in (1.0, 3.0):
        (w_dense, b_dense), (w_sparse, b_sparse) = (fit(x, labels, 60, 1.0, 1e-4, pos_weight)
                                                    for x in (dense, sparse))
        assert np.allclose(w_dense, w_sparse, atol=1e-5) and np.allclose(b_dense, b_sparse, atol=1e-5)
    assert np.abs(w_dense).max() > 0.01  # it learned something: the agreement is not of two zero layers
