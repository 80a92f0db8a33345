"""Prediction with a token classifier (NER): `EntityTagger`, what load_predictor returns for one
(finetune/predictor.py), gives the entities of raw text as spans of its characters; bert-predict prints them.

    tagger = load_predictor("runs/ner")
    tagger("Angela Merkel visited Paris on Tuesday.")   -> [EntitySpan(0, 13, "PER", 0.9978, "Angela Merkel"), ...]
    tagger(["one text", "another"])                    -> a list of spans per text

    $ bert-predict --model runs/ner "Angela Merkel visited Paris on Tuesday."
    start   end     type    score   entity
    0       13      PER     0.9978  Angela Merkel
    22      27      LOC     0.9969  Paris

The text is split into BERT's words with their character offsets (whitespace, and punctuation on its
own: "Paris." is "Paris" and "."), the words are tagged as in training (each word's first piece;
finetune/token/family.py) and the tags are read as entities (finetune/token/entities.py). A span runs
from its first word's first character to its last word's last one, end exclusive, so
`text[start:end]` is the entity; its score is the mean probability of its words' tags. Words beyond
the model's --max-seq-length pieces are tagged O.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from finetune.token.conll import Sentence
from finetune.token.entities import entity_spans
from bert.errors import InputError
from finetune.token.family import encode_sentences, predict_words
from finetune.sentence.predict import TextPredictor, text_example
from training import DistributedContext, Precision


@dataclass(frozen=True)
class EntitySpan:
    start: int  # character offsets in the text, end exclusive
    end: int
    type: str
    score: float
    text: str


def tag_names(model) -> list[str]:
    """The model's labels by id, which must be IOB tags (O, B-TYPE, I-TYPE) to be read as entities."""
    names = [model.config.id2label[i] for i in range(model.config.num_labels)] if model.config.id2label else []
    if not names or not all(name == "O" or name[:2] in ("B-", "I-") for name in names):
        raise InputError(f"the model's labels ({', '.join(names) or 'unnamed'}) are not IOB tags "
                         "(O, B-TYPE, I-TYPE): bert-predict cannot read them as entities")
    return names


def single_texts(examples: list[tuple[str, str | None]]) -> list[str]:
    """A token classifier tags one text at a time: a sentence pair is an error."""
    if any(pair is not None for _, pair in examples):
        raise InputError("a token-classification model tags single texts, not sentence pairs "
                         "(give one text, or a file with one text per line and no tabs)")
    return [text for text, _ in examples]


def find_entities(model, tokenizer, texts: list[str], batch_size: int, max_length: int,
                  precision: Precision | None = None, ctx: DistributedContext | None = None) -> list[list[EntitySpan]]:
    """The entities of each text, in order."""
    labels = tag_names(model)
    words = [tokenizer.split_words(text) for text in texts]  # [(word, (start, end)), ...] per text
    split = encode_sentences(tokenizer, labels, [Sentence([w for w, _ in ws]) for ws in words], max_length)
    tags, scores = predict_words(model, split, labels, batch_size, tokenizer.pad_token_id, ctx, precision)
    found = []
    for text, text_words, text_tags, text_scores in zip(texts, words, tags, scores):
        spans = []
        for kind, first, last in entity_spans(text_tags):
            start, end = text_words[first][1][0], text_words[last - 1][1][1]
            score = sum(text_scores[first:last]) / (last - first)
            spans.append(EntitySpan(start, end, kind, round(score, 4), text[start:end]))
        found.append(spans)
    return found


def format_entities(entities: list[EntitySpan]) -> str:
    """One text's entities as TSV: a header, then `start end type score entity` per entity."""
    rows = ["start\tend\ttype\tscore\tentity"]
    rows += [f"{e.start}\t{e.end}\t{e.type}\t{e.score:.4f}\t{' '.join(e.text.split())}" for e in entities]
    return "\n".join(rows) + "\n"


def format_entity_file(texts: list[str], found: list[list[EntitySpan]], as_jsonl: bool) -> str:
    """JSON lines, one object per text ({"text", "entities": [{start, end, type, score, text}]}), or TSV,
    one row per entity with the 0-based index of its text."""
    if as_jsonl:
        return "".join(json.dumps({"text": text, "entities": [asdict(e) for e in entities]}) + "\n"
                       for text, entities in zip(texts, found))
    rows = ["index\tstart\tend\ttype\tscore\tentity"]
    rows += [f"{i}\t{e.start}\t{e.end}\t{e.type}\t{e.score:.4f}\t{' '.join(e.text.split())}"
             for i, entities in enumerate(found) for e in entities]
    return "\n".join(rows) + "\n"


class EntityTagger(TextPredictor):
    """A fine-tuned token classifier as a callable: text -> its entity spans; see the module docstring."""

    def __init__(self, model, tokenizer, max_length: int, batch_size: int = 64, precision: Precision | None = None,
                 ctx: DistributedContext | None = None):
        tag_names(model)  # labels that are no IOB tags cannot be read as entities: say so at once
        super().__init__(model, tokenizer, max_length, batch_size, precision, ctx)

    def __call__(self, texts: str | list[str]) -> list[EntitySpan] | list[list[EntitySpan]]:
        single = isinstance(texts, str)
        checked = single_texts([text_example(text) for text in ([texts] if single else texts)])
        found = self.predict(checked)
        return found[0] if single else found

    def predict(self, texts: list[str]) -> list[list[EntitySpan]]:
        return find_entities(self.model, self.tokenizer, texts, self.batch_size, self.max_length, self.precision,
                             self.ctx)

    # bert-predict's side: where texts come from and how entities are written
    def read_examples(self, options) -> list[str]:
        if options.question is not None:
            raise InputError("this model tags entities, not a question-answering model: give TEXT")
        return single_texts(self.text_examples(options))

    def format(self, texts: list[str], found: list[list[EntitySpan]], from_file: bool, as_jsonl: bool) -> str:
        return format_entity_file(texts, found, as_jsonl) if from_file else format_entities(found[0])
