"""The CPU training shortcuts compute what the plain forms compute: Dropout's sampler, attention spelled out
when it drops out, the sparse word-embedding gradient under the tied MLM head."""

import pytest
import torch

import bert
from bert.model import Dropout
from tests.test_model_parity import CONFIGS, make_batch
from training import build_optimizer


def test_dropout_zeroes_a_p_fraction_and_scales_the_rest_to_keep_the_mean():
    torch.manual_seed(0)
    dropout = Dropout(0.1).train()
    x = torch.ones(400_000, requires_grad=True)
    y = dropout(x)
    zeroed = (y == 0).float().mean().item()
    assert abs(zeroed - 0.1) < 0.003  # binomial std at n=400k: 0.0005
    kept = y[y != 0]
    scale = 2**16 / (2**16 - round(0.1 * 2**16))  # p rounded to 6554 / 65536
    assert abs(scale - 1 / 0.9) < 1e-5 and torch.equal(kept, torch.full_like(kept, scale))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask * scale)/dx = mask * scale
    odd = torch.ones(7, 3)  # a size that is no multiple of four 16-bit numbers per draw
    assert dropout(odd).shape == odd.shape


def test_dropout_masks_follow_the_seed_and_vanish_in_eval_or_at_zero():
    x = torch.randn(64, 32)
    dropout = Dropout(0.5).train()
    torch.manual_seed(3)
    first = dropout(x)
    torch.manual_seed(3)
    assert torch.equal(dropout(x), first)
    torch.manual_seed(4)
    assert not torch.equal(dropout(x), first)
    assert torch.equal(dropout.eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    assert isinstance(dropout, torch.nn.Dropout)  # `for m in modules(): if isinstance(m, nn.Dropout)` reaches it


@pytest.mark.parametrize("head", ["BertModel", "BertForQuestionAnswering"])
def test_attention_spelled_out_in_cpu_training_equals_the_fused_kernel(head):
    """With attention dropout on, CPU training computes softmax(QK^T/sqrt(d) + mask) V step by step; at a
    dropout probability too small to drop anything it must equal eval mode's fused SDPA, padding included."""
    torch.manual_seed(0)
    config = bert.BertConfig(**CONFIGS["odd"], hidden_dropout_prob=0.0, attention_probs_dropout_prob=1e-12)
    model = getattr(bert, head)(config)
    batch, _ = make_batch(config.vocab_size, config.type_vocab_size)
    with torch.no_grad():
        fused = model.eval()(**batch)
        spelled_out = model.train()(**batch)
    assert all(layer.attention.drops_out_on_cpu(torch.zeros(1)) for layer in model.modules()
               if isinstance(layer, bert.model.EncoderLayer))
    real = batch["attention_mask"].bool()
    for name in ("last_hidden_state", "start_logits", "end_logits"):
        if hasattr(fused, name):
            diff = (getattr(spelled_out, name) - getattr(fused, name))[real].abs().max()
            assert diff <= 1e-5, name


@pytest.mark.parametrize("head", ["BertForPreTraining", "BertForMaskedLM"])
def test_tied_word_embeddings_get_one_dense_gradient_equal_to_the_dense_lookups(head):
    """With MLM labels the lookup's gradient is sparse and added into the head's dense one: the sum must be
    the gradient the all-dense form gives, stored dense, and AdamW must take it."""
    torch.manual_seed(0)
    config = bert.BertConfig(**CONFIGS["tiny"], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = getattr(bert, head)(config).train()
    batch, _ = make_batch(config.vocab_size, 2)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, 1:6] = batch["input_ids"][:, 1:6]
    model(**batch, labels=labels).loss.backward()
    sparse_then_dense = model.bert.embeddings.word_embeddings.weight.grad.clone()
    assert sparse_then_dense.layout == torch.strided

    model.zero_grad()
    hidden = model.bert(**batch).last_hidden_state  # sparse_word_gradient off: the plain dense lookup
    _, mlm_loss = bert.heads.masked_lm_logits(model.mlm_head, model.bert, hidden, labels)
    mlm_loss.backward()  # the same loss: without next_sentence_label the head's loss is the MLM loss alone
    assert (model.bert.embeddings.word_embeddings.weight.grad - sparse_then_dense).abs().max() <= 1e-6

    optimizer = build_optimizer(model, 1e-3)
    model.zero_grad()
    model(**batch, labels=labels).loss.backward()
    before = model.bert.embeddings.word_embeddings.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(model.bert.embeddings.word_embeddings.weight, before)


def test_without_mlm_labels_the_word_gradient_stays_dense():
    """NSP alone (no MLM labels): no dense gradient from the head to add into, so the lookup's is dense."""
    torch.manual_seed(0)
    model = bert.BertForPreTraining(bert.BertConfig(**CONFIGS["tiny"])).train()
    batch, _ = make_batch(1000, 2)
    model(**batch, next_sentence_label=torch.tensor([0, 1, 0, 1])).loss.backward()
    assert model.bert.embeddings.word_embeddings.weight.grad.layout == torch.strided
    build_optimizer(model, 1e-3).step()
