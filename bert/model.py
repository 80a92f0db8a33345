"""The BERT encoder, block by block, as in Devlin et al. 2019 ("BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding") and Vaswani et al. 2017 ("Attention Is All You Need").

    input_ids (batch, seq) ──> Embeddings ──> EncoderLayer x L ──> last_hidden_state (batch, seq, hidden)
                                                                         └─> Pooler([CLS]) ──> pooler_output

Reading order: Embeddings, SelfAttention, FeedForward, EncoderLayer, Encoder, Pooler, BertModel.
The task heads (MLM, NSP, classification, QA) are in bert/heads.py; loading and saving HF checkpoints in
bert/checkpoint.py; DistilBERT, which is these modules without segment embeddings and pooler, in
bert/distilbert.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .checkpoint import PretrainedMixin
from .config import BertConfig

ACTIVATION_FUNCTIONS = {  # config.hidden_act -> module class
    "gelu": nn.GELU,  # exact: x * Phi(x), as in Google's BERT code
    "gelu_new": partial(nn.GELU, approximate="tanh"),
    "gelu_pytorch_tanh": partial(nn.GELU, approximate="tanh"),
    "relu": nn.ReLU,
    "silu": nn.SiLU,
}


def sinusoid_table(n_positions: int, hidden: int) -> torch.Tensor:
    """The Transformer's position encoding (Vaswani et al. 2017, section 3.5), (n_positions, hidden):
    dimensions 2i and 2i+1 hold sin and cos of position / 10000^(2i/hidden)."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]  # (positions, 1)
    frequency = torch.exp(torch.arange(0, hidden, 2) * (-math.log(10000.0) / hidden))  # (hidden/2,)
    table = torch.zeros(n_positions, hidden)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[:hidden // 2])  # an odd width has one cos fewer
    return table


class Dropout(nn.Dropout):
    """nn.Dropout (each value zeroed with probability p, the rest scaled up to keep the mean) with a cheaper
    mask on CPU, where nn.Dropout's Bernoulli sampler was ~12% of a fine-tuning step.

    PyTorch's CPU generator makes one 64-bit draw per random value, whatever the value's width, and a mask
    needs few bits: here each 64-bit draw gives four 16-bit numbers, and a value is kept when its number is
    at or above p * 2^16. So p is rounded to a multiple of 1/65536 (0.1 -> 0.1000061) and the kept values are
    scaled by the inverse of that exact keep rate. Measured on an AVX2 CPU: ~5x faster than nn.Dropout.
    Elsewhere (GPUs, eval mode, p = 0 or 1 after rounding) it is nn.Dropout itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dropped = round(self.p * 2**16)  # of every 2^16 values, on average
        if not self.training or x.device.type != "cpu" or not 0 < dropped < 2**16:
            return super().forward(x)
        n = x.numel()
        draws = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64)  # 64 random bits each
        numbers = draws.view(torch.int16)[:n].view(x.shape)  # uniform in [-2^15, 2^15)
        keep = numbers >= dropped - 2**15  # True for 2^16 - dropped of the 2^16 possible numbers
        return x * keep * (2**16 / (2**16 - dropped))


class Embeddings(nn.Module):
    """Token ids -> vectors: word + position + segment ("token type"), then LayerNorm and dropout.

    BERT learns its position embeddings (one vector per position up to max_position_embeddings) instead of
    using sinusoids. The token type embedding tells sentence A (0) from sentence B (1) in a pair; a config
    with type_vocab_size 0 (DistilBERT) has none, and a pair is told apart by its [SEP] alone.

    (batch, seq) ids -> (batch, seq, hidden)
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = (nn.Embedding(config.type_vocab_size, config.hidden_size)
                                      if config.type_vocab_size > 0 else None)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                sparse_word_gradient: bool = False) -> torch.Tensor:
        """sparse_word_gradient: hand the word-embedding matrix its gradient as the looked-up rows alone
        (a sparse tensor). Only for a caller that also gives the matrix a dense gradient in the same
        backward pass, as the tied MLM head does: the rows are then added into that one, where the dense
        form would zero a (vocab x hidden) tensor, add a few rows and add it to the head's whole tensor
        (measured: ~5% of a base pretraining step at vocabulary 30,522, on an AVX2 CPU)."""
        seq_len = input_ids.shape[1]
        if seq_len > self.position_embeddings.num_embeddings:
            raise ValueError(f"sequence length {seq_len} exceeds max_position_embeddings "
                             f"({self.position_embeddings.num_embeddings})")
        positions = torch.arange(seq_len, device=input_ids.device)  # (seq,), broadcast over the batch
        words = self.word_embeddings
        x = F.embedding(input_ids, words.weight, words.padding_idx, sparse=sparse_word_gradient)  # (batch, seq, hidden)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = x + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(positions)
        return self.dropout(self.norm(x))

    @torch.no_grad()
    def init_positions_sinusoidal(self, std: float) -> None:
        """Start the learned position embeddings from the Transformer's sinusoids, scaled to `std`.

        Why: from N(0, std) noise the model must learn position by position which vector means "my left
        neighbour", and pretraining sits on the unigram plateau (MLM loss ~6) until attention finds
        neighbours. With sinusoids, every offset k is the same rotation of each (sin, cos) pair for all
        positions, one linear map that Q/K can learn at once. Measured here (tiny preset, batch 32, lr 1e-3):
        it left the plateau by step 2,400 (held-out MLM accuracy 20%, loss 5.7) where the noise start was
        still on it (14%, 6.2). The embeddings stay learned (and HF-compatible); only their start differs.
        """
        # sin and cos of spread-out angles have variance ~1/2: scale to about the other embeddings' std
        table = sinusoid_table(*self.position_embeddings.weight.shape)  # (positions, hidden), values in [-1, 1]
        self.position_embeddings.weight.copy_(table * std * math.sqrt(2))


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention: every token looks at every (non-padding) token.

    Each of the H heads attends in its own d = hidden/H dimensional subspace:
        softmax(Q K^T / sqrt(d) + mask) V
    computed by `F.scaled_dot_product_attention`, which picks a fused kernel (flash / memory-efficient on
    GPU, a fused CPU kernel) instead of materialising the (seq x seq) score matrix in Python. A fused kernel
    never hands out the weights, so with `keep_weights` set (bert-inspect does) the same formula is computed
    step by step and the weights kept in `self.weights`, (batch, heads, queries, keys). Training on CPU
    computes it step by step too (see `drops_out_on_cpu`).

    (batch, seq, hidden), key_mask (batch, 1, 1, seq) bool -> (batch, seq, hidden); with first_only, only
    the first token asks (queries) while all are attended (keys, values): -> (batch, 1, hidden)
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        # Dropout on the attention weights. SDPA takes it as a probability, but it lives in a Dropout module
        # so that the usual `for m in model.modules(): if isinstance(m, nn.Dropout): m.p = 0.0` reaches it too.
        self.attention_dropout = Dropout(config.attention_probs_dropout_prob)
        self.keep_weights = False
        self.weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None, first_only: bool = False) -> torch.Tensor:
        split_heads = lambda t: rearrange(t, "b s (h d) -> b h s d", h=self.num_heads)  # noqa: E731
        queries = x[:, :1] if first_only else x
        q, k, v = split_heads(self.query(queries)), split_heads(self.key(x)), split_heads(self.value(x))
        if self.keep_weights or self.drops_out_on_cpu(x):
            scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)  # (batch, heads, queries, keys)
            if key_mask is not None:  # -inf on padding keys, added: no copy to make now or in the backward pass
                blocked = torch.zeros(key_mask.shape, dtype=scores.dtype, device=scores.device)  # (batch, 1, 1, keys)
                scores = scores + blocked.masked_fill_(~key_mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            if self.keep_weights:
                self.weights = weights
            context = self.attention_dropout(weights) @ v
        else:
            context = F.scaled_dot_product_attention(  # (batch, heads, seq, head_size)
                q, k, v, attn_mask=key_mask, dropout_p=self.attention_dropout.p if self.training else 0.0)
        return self.output(rearrange(context, "b h s d -> b s (h d)"))

    def drops_out_on_cpu(self, x: torch.Tensor) -> bool:
        """SDPA's fused CPU kernel has no dropout: with dropout it falls back to this same arithmetic step by
        step, with a slower mask (nn.Dropout's). So training on CPU spells it out here; GPUs keep the fused
        kernels, which do have dropout."""
        return self.training and self.attention_dropout.p > 0 and x.device.type == "cpu"


class FeedForward(nn.Module):
    """The position-wise MLP: hidden -> intermediate (4x) -> GELU -> hidden, applied to each token alone.

    (batch, seq, hidden) -> (batch, seq, hidden)
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACTIVATION_FUNCTIONS[config.hidden_act]()
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.activation(self.up(x)))


class EncoderLayer(nn.Module):
    """One Transformer block, post-LN as in the original paper:

        x = LayerNorm(x + Dropout(SelfAttention(x)))
        x = LayerNorm(x + Dropout(FeedForward(x)))

    Post-LN (normalise *after* the residual add) is what BERT was trained with, so released weights only
    work with it. It is also why BERT needs learning-rate warmup: early in training the un-normalised
    residual path makes large updates unstable (Xiong et al. 2020, "On Layer Normalization in the
    Transformer Architecture").

    DistilBERT's block is the same but for one dropout: its attention output goes to the residual add as it
    is (attention_output_dropout=False), only attention probabilities and the feed-forward output drop out.

    (batch, seq, hidden) -> (batch, seq, hidden), or (batch, 1, hidden) for the first token only
    """

    def __init__(self, config: BertConfig, attention_output_dropout: bool = True):
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.feed_forward_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.attention_output_dropout = attention_output_dropout

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None, first_only: bool = False) -> torch.Tensor:
        residual = x[:, :1] if first_only else x
        attended = self.attention(x, key_mask, first_only)
        if self.attention_output_dropout:
            attended = self.dropout(attended)
        x = self.attention_norm(residual + attended)
        return self.feed_forward_norm(x + self.dropout(self.feed_forward(x)))


class Encoder(nn.Module):
    """A stack of L identical EncoderLayers. (batch, seq, hidden) -> (batch, seq, hidden)

    cls_only: the last layer computes [CLS]'s output alone -> (batch, 1, hidden). A sentence classifier reads
    nothing else, and every other token's last-layer output (its query, attention output and feed-forward,
    ~5/6 of the layer's work) would be thrown away: same logits, ~1/L less compute.
    """

    def __init__(self, config: BertConfig, attention_output_dropout: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config, attention_output_dropout)
                                    for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None, cls_only: bool = False) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, key_mask, first_only=cls_only and i == len(self.layers) - 1)
        return x


class Pooler(nn.Module):
    """Summarises a sequence as dense + tanh applied to its first token, [CLS].

    [CLS] carries no word of its own, so through pretraining (NSP) it learns to gather what the pair means
    as a whole; sentence-level heads (NSP, classification) read it through this layer.

    (batch, seq, hidden) -> (batch, hidden)
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


@dataclass
class BertOutput:
    last_hidden_state: torch.Tensor  # (batch, seq, hidden)
    pooler_output: torch.Tensor | None = None  # (batch, hidden); None without a pooler


def key_padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """(batch, seq) 1 = real token, 0 = padding -> (batch, 1, 1, seq) bool, True where a key may be attended.

    Only keys are masked: a padding position's own output is computed but never read, so real positions
    get exactly the same result whatever padding the batch carries.
    """
    if attention_mask is None:
        return None
    return rearrange(attention_mask.bool(), "b s -> b 1 1 s")


class BertModel(PretrainedMixin, nn.Module):
    """The bare encoder: embeddings, L encoder layers, and (optionally) the pooler.

    input_ids, token_type_ids, attention_mask (batch, seq) ->
        BertOutput(last_hidden_state (batch, seq, hidden), pooler_output (batch, hidden))
    With cls_only=True last_hidden_state is [CLS]'s alone, (batch, 1, hidden): all a pooled head needs.
    sparse_word_gradient: see Embeddings.forward (the MLM heads set it when they compute a loss).
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config) if add_pooling_layer else None
        self.init_weights()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, cls_only: bool = False,
                sparse_word_gradient: bool = False) -> BertOutput:
        embedded = self.embeddings(input_ids, token_type_ids, sparse_word_gradient)
        hidden = self.encoder(embedded, key_padding_mask(attention_mask), cls_only)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BertOutput(last_hidden_state=hidden, pooler_output=pooled)
