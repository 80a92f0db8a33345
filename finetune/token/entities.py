"""Entities in a tag sequence, and the CoNLL shared task's entity-level scores, as its `conlleval` computes them.

An entity is a (type, start, end) span of words, end exclusive. It counts as found only when a predicted
entity has the same type and the same two boundaries as a gold one: finding "Merkel" in "Angela Merkel"
is one false positive and one false negative, not half a hit. Precision, recall and F1 are micro-averaged
over all entities of all sentences (so frequent types weigh more), as in the shared task.

Reading tags (conlleval's rules, which are also `seqeval`'s default mode): an entity begins at every
`B-X`, and at an `I-X` that does not continue an entity of type X (after `O`, after another type, or at
the start of the sentence). So a model's ill-formed IOB2 output still has a definite reading:
"O I-PER I-PER" is one PER entity, "B-PER I-LOC" two entities. IOB1 and IOB2 tags read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

Entity = tuple[str, int, int]  # (type, first word, one past the last word)


def entity_spans(tags: Sequence[str]) -> list[Entity]:
    """The entities of one sentence's tags, in order: ["B-PER", "I-PER", "O", "I-LOC"] -> [("PER", 0, 2), ("LOC", 3, 4)]."""
    entities, kind, start = [], None, 0  # kind: the type of the entity being read, None outside one
    for i, tag in enumerate([*tags, "O"]):  # the "O" closes an entity that runs to the end
        prefix, _, tag_kind = tag.partition("-")
        begins = tag != "O" and (prefix == "B" or tag_kind != kind)
        if kind is not None and (tag == "O" or begins):
            entities.append((kind, start, i))
            kind = None
        if begins:
            kind, start = tag_kind, i
    return entities


def precision_recall_f1(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    """Each is 0.0 where its denominator is (no predictions, no gold entities), as conlleval prints."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]],
                  entity_types: Sequence[str]) -> dict[str, float]:
    """Entity-level f1, precision and recall (micro), word accuracy, and f1 of each type (`f1_PER`, ...).

    gold, predicted: one list of tags per sentence, the same length each.
    """
    gold_entities = {(s, *e) for s, tags in enumerate(gold) for e in entity_spans(tags)}  # (sentence, type, start, end)
    predicted_entities = {(s, *e) for s, tags in enumerate(predicted) for e in entity_spans(tags)}
    correct = gold_entities & predicted_entities
    precision, recall, f1 = precision_recall_f1(len(correct), len(predicted_entities), len(gold_entities))
    words = sum(len(tags) for tags in gold)
    right = sum(g == p for gold_tags, tags in zip(gold, predicted) for g, p in zip(gold_tags, tags))
    scores = {"f1": f1, "precision": precision, "recall": recall, "accuracy": right / words if words else 0.0}
    for kind in entity_types:
        counts = [sum(e[1] == kind for e in entities) for entities in (correct, predicted_entities, gold_entities)]
        scores[f"f1_{kind}"] = precision_recall_f1(*counts)[2]
    return scores
