"""How good, and how fast, is a StyleGAN run? Per-epoch losses and quality numbers, the style mixing.

Trains `stylegan` through the shared job function (as `latentq run` does) and prints, per
epoch: d_loss, g_loss, d_real / d_fake accuracy, fcd, class_coverage; then where the
style-mixing picture is (images/style_mixing.png: rows = source A, columns = source B, cells =
B's coarse styles with A's fine ones). Optionally the same budget for a baseline recipe
(`--baseline dcgan`) with its default parameters.

    python bench/stylegan_quality.py                                 # mnist-5k, 8 epochs, defaults
    python bench/stylegan_quality.py -e 5 --set mixing_prob=0 --set mapping_layers=2
    python bench/stylegan_quality.py --baseline dcgan --home /tmp/sg  # keep the pictures

Prints a table per run and, last, a JSON object with every number. Uses a temporary
LATENTQ_HOME unless --home is given.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from progan_quality import main  # noqa: E402  (the same runner, table and JSON)

if __name__ == "__main__":
    main("stylegan", __doc__)
