"""Recommend: the top-N unseen items of one user (with titles), or of every user in batches.

Items a user already rated are never recommended: every split part, and the
ratings build's transform dropped (binarize's low ones, seen.npz). A user
the id map does not know gets the most rated training items instead, with a
note saying so; a known user without training ratings (cold) is scored by
the fallback baseline through the model's scorer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from aerec import schema as s
from aerec.config import Params
from aerec.io import write_parquet
from aerec.metrics import top_k
from aerec.processed import Processed, id_arrays
from aerec.scoring import Scorer, user_batches

# Columns of items.parquet tried in order for a readable item name.
TITLE_COLUMNS = ("title", "movie_title", "product_name", "name")


@dataclass(frozen=True)
class Recommender:
    """Everything a recommendation needs, loaded once: scorer, known ratings, ids, titles."""

    scorer: Scorer
    known: sp.csr_matrix
    user_ids: np.ndarray
    user_index: dict[str, int]
    item_ids: np.ndarray
    titles: pl.Series | None
    popularity: np.ndarray
    item_mean: np.ndarray
    scale: tuple[float, float]

    @classmethod
    def build(cls, scorer: Scorer, processed: Processed, items_path: Path | None) -> Recommender:
        """Gather what each user rated (dropped ratings too), the id maps and the titles."""
        user_ids, item_ids = id_arrays(processed.dir)
        known = processed.seen
        counts = processed.item_counts()
        sums = np.bincount(
            processed.inputs.indices, weights=processed.inputs.data, minlength=counts.size
        )
        return cls(
            scorer=scorer,
            known=known,
            user_ids=user_ids,
            user_index={uid: i for i, uid in enumerate(user_ids.tolist())},
            item_ids=item_ids,
            titles=load_titles(items_path, item_ids),
            popularity=counts,
            item_mean=np.divide(sums, counts, out=np.full(counts.size, np.nan), where=counts > 0),
            scale=processed.scale,
        )

    def for_user(self, user_id: str, n: int) -> tuple[pl.DataFrame, str | None]:
        """The user's top-n unseen items and predicted ratings, and a note when it fell back.

        An unknown user gets the n most rated items, their mean training rating
        in the prediction column, and a note that says so.
        """
        idx = self.user_index.get(str(user_id))
        if idx is None:
            top = top_k(self.popularity[None, :].astype(np.float64), n)[0]
            top = top[top >= 0]
            note = (
                f"user '{user_id}' is not in the training data: showing the {top.size} most "
                "rated items and their mean rating instead of personal predictions"
            )
            return self._frame(np.full(top.size, str(user_id)), top, self.item_mean[top]), note
        scores = self.scorer.rows(np.array([idx]))
        top = top_k(scores, n, self.known[[idx]])[0]
        top = top[top >= 0]
        shown = self._shown(scores[0, top])
        return self._frame(np.full(top.size, str(user_id)), top, shown), None

    def for_users(self, users: np.ndarray, n: int) -> pl.DataFrame:
        """Top-n lists of the user indices `users`, scored in one dense block."""
        scores = self.scorer.rows(users)
        top = top_k(scores, n, self.known[users])
        rows, ranks = np.nonzero(top >= 0)
        items = top[rows, ranks]
        shown = self._shown(scores[rows, items])
        return self._frame(self.user_ids[users[rows]], items, shown, ranks + 1)

    def _shown(self, scores: np.ndarray) -> np.ndarray:
        """Scores as shown: ratings clipped to the scale (ranked unclipped), others as they are."""
        return np.clip(scores, *self.scale) if self.scorer.predicts_ratings else scores

    def _frame(
        self,
        user_ids: np.ndarray,
        items: np.ndarray,
        predictions: np.ndarray,
        ranks: np.ndarray | None = None,
    ) -> pl.DataFrame:
        ranks = np.arange(1, items.size + 1) if ranks is None else ranks
        columns: dict[str, Any] = {
            s.USER_ID: pl.Series(user_ids, dtype=pl.String),
            s.RANK: pl.Series(ranks, dtype=pl.Int32),
            s.ITEM_ID: pl.Series(self.item_ids[items], dtype=pl.String),
            s.PREDICTION: pl.Series(predictions, dtype=pl.Float32),
        }
        if self.titles is not None:
            columns[s.TITLE] = self.titles.gather(items).alias(s.TITLE)
        return pl.DataFrame(columns)


def load_titles(items_path: Path | None, item_ids: np.ndarray) -> pl.Series | None:
    """Item titles aligned with the item indices, from items.parquet; None when there are none."""
    if items_path is None or not Path(items_path).is_file():
        return None
    schema = pl.read_parquet_schema(items_path)
    column = next((c for c in TITLE_COLUMNS if c in schema), None)
    if column is None:
        return None
    table = pl.read_parquet(items_path, columns=[s.ITEM_ID, column])
    aligned = (
        pl.DataFrame({s.ITEM_ID: pl.Series(item_ids, dtype=pl.String)})
        .join(
            table.with_columns(
                pl.col(s.ITEM_ID).cast(pl.String), pl.col(column).cast(pl.String)
            ).unique(s.ITEM_ID, keep="first"),
            on=s.ITEM_ID,
            how="left",
            maintain_order="left",
        )
        .get_column(column)
    )
    return aligned


def load_recommender(
    data_dir: Path, model_dir: Path, params: Params, items_path: Path | None
) -> Recommender:
    """Load build's output and the model in `model_dir` (cold users go to the fallback)."""
    from aerec.processed import load_processed
    from aerec.runtime import configure
    from aerec.scoring import load_baseline_scorers, load_model_scorer

    processed = load_processed(data_dir)
    fallback = load_baseline_scorers(processed, topn=False)[params.evaluate.fallback]
    device = configure(params.runtime)
    scorer = load_model_scorer(Path(model_dir), processed, fallback, device)
    return Recommender.build(scorer, processed, items_path)


def run_all(recommender: Recommender, n: int, out: Path, progress: bool = False) -> dict[str, Any]:
    """Every user's top-n list to `out` (Parquet), scored in batches of users."""
    n_users, n_items = recommender.known.shape
    batches = user_batches(np.arange(n_users), n_items)
    frames = []
    for batch in _progress(batches, progress):
        frames.append(recommender.for_users(batch, n))
    frame = pl.concat(frames) if frames else recommender.for_users(np.arange(0), n)
    write_parquet(frame, out)
    return {"users": n_users, "rows": frame.height, "out": str(out)}


def _progress(batches: list[np.ndarray], show: bool) -> Any:
    if not show:
        return batches
    from rich.progress import track

    return track(batches, description="recommending", transient=True)
