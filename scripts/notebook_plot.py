"""The plot on docs/notebook.md: weekly revenue by order status of a simulated store, via to_pandas().

Run from the repository root (needs the dev extra, for pandas and matplotlib):

    python scripts/notebook_plot.py                       # writes docs/img/notebook-revenue.png
    python scripts/notebook_plot.py --out /tmp/plot.png
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file; no display needed

import matplotlib.pyplot as plt
import pandas as pd

import mivaorders as mo
from mivaorders.testing import FakeStore

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "notebook-revenue.png"


def weekly_revenue(orders: pd.DataFrame) -> pd.DataFrame:
    """Revenue per ISO week (rows) and order status (columns), summed exactly as Decimal."""
    week = orders["orderdate"].dt.strftime("%G-W%V").rename("week")
    by_status = orders.groupby([week, "status_label"])["total"].sum()
    return by_status.unstack(fill_value=Decimal(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the PNG")
    args = parser.parse_args()

    store = FakeStore(orders=500, seed=1)
    with store.client() as client:
        orders = mo.to_pandas(client.orders.iter(page_size=100))
    revenue = weekly_revenue(orders)
    grand_total = sum(revenue.sum(axis=1), Decimal(0))
    assert grand_total == orders["total"].sum()  # exact: no cent lost on the way

    # Floats only for drawing: every figure above was computed in Decimal.
    ax = revenue.astype("float64").plot.bar(stacked=True, figsize=(9, 4.5), width=0.8, colormap="tab10")
    ax.set_title(f"Weekly revenue by order status (simulated store, total {grand_total:,})")
    ax.set_xlabel("ISO week of the order date (UTC)")
    ax.set_ylabel("revenue")
    ax.legend(title="status", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelrotation=45)
    plt.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(args.out, dpi=110, metadata={"Software": None})
    print(f"{len(orders)} orders, {len(revenue)} weeks, revenue {grand_total}: wrote {args.out}")


if __name__ == "__main__":
    main()
