"""Progress on long work: a tqdm bar on a terminal, nothing elsewhere (there the log's one
line per step says where a run is)."""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress_bar(total: int | None, desc: str, enabled: bool = True, unit: str = "doc"):
    """A bar that counts to total (or up, with no total); shown only when enabled and
    stderr is a terminal."""
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "doc", disable=not enabled or None,
                leave=False, dynamic_ncols=True)


def counted(items: Iterable[T], desc: str, enabled: bool = True) -> Iterator[T]:
    """items, counted on a bar as they pass."""
    if not enabled:
        yield from items
        return
    with progress_bar(None, desc) as bar:
        for item in items:
            bar.update(1)
            yield item
