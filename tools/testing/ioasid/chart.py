#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Draw bench.csv (ioasid-bench's CSV) as a PNG: for every row, the median time (or
rate) of each backend relative to iommufd, with min-max whiskers.

    chart.py bench.csv bench.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BACKENDS = [("ioasid", "#1f77b4"), ("iommufd", "#ff7f0e"), ("vfio-type1", "#2ca02c")]


def main(src, dst):
    rows = list(csv.DictReader(open(src)))
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(rows) + 1.5))
    height = 0.26
    for i, row in enumerate(rows):
        ref = row.get("iommufd_med") or row.get("ioasid_med")
        if not ref:
            continue
        ref = float(ref)
        if ref <= 0:
            # A zero or negative reference (a memory delta within meminfo's rounding)
            # has no meaningful ratio: the table has the figures.
            continue
        for k, (name, color) in enumerate(BACKENDS):
            med = row.get(f"{name}_med")
            if not med:
                continue
            lo, hi = float(row[f"{name}_min"]), float(row[f"{name}_max"])
            y = i + (k - 1) * height
            ax.barh(y, float(med) / ref, height, color=color, label=name if i == 0 else None,
                    xerr=[[(float(med) - lo) / ref], [(hi - float(med)) / ref]], capsize=2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['case']} [{r['unit']}]" for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linewidth=0.8)
    # Whiskers past 4x iommufd are clipped: the table and CSV have the exact figures.
    ax.set_xlim(0, 4)
    ax.set_xlabel("relative to iommufd (time rows: lower is faster; ops/s rows: higher is faster)")
    ax.set_title("ioasid vs iommufd vs VFIO type1 (same VM, intel-iommu, TCG): median, min-max")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
