"""The NLI verifier with a tiny cross-encoder built here (no weights can be downloaded).

The classifier head is set by hand so the expected entailment probability is known exactly:
with zero weights the logits equal the bias, whatever the input.
"""

import math

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from guard.checks.base import CheckInput
from guard.checks.grounding import GroundingCheck
from guard.checks.grounding.nli import NliVerifier, entailment_column
from checks_helpers import MemoryRetriever

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "sky", "is", "blue", "green", "it", "has", "671b", "params"]


def make_model(path, labels: dict[int, str], bias: list[float]) -> str:
    vocab = path / "vocab.txt"
    path.mkdir(parents=True, exist_ok=True)
    vocab.write_text("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=len(labels),
                        id2label=labels, label2id={v: k for k, v in labels.items()})
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def softmax(xs, i):
    return math.exp(xs[i]) / sum(math.exp(x) for x in xs)


def test_entailment_column_from_labels():
    assert entailment_column({0: "contradiction", 1: "entailment", 2: "neutral"}, 3) == 1
    assert entailment_column({"0": "ENTAILMENT", "1": "NEUTRAL", "2": "CONTRADICTION"}, 3) == 0
    assert entailment_column(None, 1) == 0
    with pytest.raises(ValueError):
        entailment_column({0: "LABEL_0", 1: "LABEL_1"}, 2)


def test_tiny_cross_encoder_probabilities(tmp_path):
    bias = [0.5, 2.0, -1.0]
    path = make_model(tmp_path / "nli", {0: "contradiction", 1: "entailment", 2: "neutral"}, bias)
    probs = NliVerifier(path).verify([("the sky is blue", "the sky is blue"), ("it has 671b params", "the sky")])
    assert probs == pytest.approx([softmax(bias, 1)] * 2, abs=1e-4)


def test_label_order_is_read_from_the_model(tmp_path):
    bias = [3.0, 0.0, 0.0]
    path = make_model(tmp_path / "nli2", {0: "entailment", 1: "neutral", 2: "contradiction"}, bias)
    assert NliVerifier(path).verify([("a", "b")]) == pytest.approx([softmax(bias, 0)], abs=1e-4)


def test_grounding_averages_lexical_and_nli(tmp_path):
    path = make_model(tmp_path / "nli3", {0: "contradiction", 1: "entailment", 2: "neutral"}, [6.0, -6.0, 0.0])
    retriever = MemoryRetriever(["The sky is blue today over Paris."])
    inp = CheckInput(question="", answer="The sky is blue today over Paris.", retriever=retriever)
    plain = GroundingCheck(retriever).run(inp)
    with_nli = GroundingCheck(retriever, verifiers=[NliVerifier(path)]).run(inp)
    lexical = plain.sentences[0].support
    nli = softmax([6.0, -6.0, 0.0], 1)
    assert with_nli.sentences[0].support == pytest.approx((lexical + nli) / 2, abs=1e-4)
    assert with_nli.details["verifiers"] == ["nli"]
    assert any(r.startswith("nli: not supported") for r in with_nli.sentences[0].reasons)
