"""bert-inspect: look inside a BERT checkpoint with your own sentence. `import bert` does not load this package
(it reads tokenizers; the model needs none).

- cli.py             the command line: parse, build an Inspection, run it
- report.py          what bert-inspect shows, gathered as data (`inspect_checkpoint`), printed and saved
- architectures.py   which class a checkpoint is (config.json's `architectures`), and loading it
- forward_pass.py    the sentence through the model: its encoding, shapes, attention weights, [MASK] fillers,
                     and which attention kernels ran
- parameters.py      the module tree with parameter counts
- flops.py           the forward FLOPs at a sequence length, by formula
- weight_changes.py  how far each module's weights moved between two checkpoints
- attention_plot.py  attention weights as heat maps

(Named `inspection`, not `inspect`: a module called `inspect` would shadow the standard library's.)
"""
