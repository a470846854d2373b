"""A character-level language model of tiny Shakespeare, split across two devices.

The model (see `runner/lstm_lm.py`, written in TF1's API): an embedding, a stack of LSTM layers
with layer k on device k (`MultiRNNCell([DeviceWrapper(LSTMCell(n), "/cpu:k"), ...])` run by
`dynamic_rnn`), and the softmax split by vocabulary columns across the devices.  It trains with
a progress bar, prints the validation loss before and after, and samples text at the end.

Run: `python -m examples.char_lm` (the same as `python -m runner train lstm`; add
`--steps`, `--hidden`, `--layers`, `--devices cpu:0,cpu:1`, `--mode single` ...).
"""
import sys

from runner.__main__ import main as runner_main


def main(argv=None) -> int:
    return runner_main(["train", "lstm", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
