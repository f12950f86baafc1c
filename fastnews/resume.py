"""Resumable batch classification: a killed `predict --output FILE --resume` continues
from its last complete chunk instead of starting over.

While it runs, the rows go to FILE.partial, and FILE.partial.json (the journal, replaced
atomically) records after each chunk of CHUNK rows how many rows and bytes of the
partial file are complete, a hash of those rows' document ids, and the job's
fingerprint: a hash of the model file, the inputs as given and the options. A rerun with
--resume checks the fingerprint, cuts the partial file back to its last complete chunk,
skips that many documents (checking that their ids hash the same, so a folder that
changed is refused) without reading them, and goes on. At the end the partial file is
renamed to FILE, so FILE only ever appears whole: the same bytes as an uninterrupted
run's, since rows do not depend on how the documents were batched.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from fastnews.atomic import write_text
from fastnews.corpus import FileRef
from fastnews.infer import CHUNK, Row
from fastnews.output import OutputError, TextWriter


def fingerprint(model: str | os.PathLike, inputs: list[str], options: dict) -> str:
    """What a resumed job must share with the interrupted one."""
    digest = hashlib.sha256(Path(model).read_bytes())
    digest.update(json.dumps({"inputs": [os.path.abspath(i) for i in inputs], **options}, sort_keys=True).encode())
    return digest.hexdigest()


class ResumableOutput:
    """FILE.partial and its journal; see the module docstring."""

    def __init__(self, output: str | os.PathLike, job: str):
        """Picks up FILE.partial where its journal left it, if the journal is this job's."""
        self.final = Path(output)
        self.partial = self.final.with_name(self.final.name + ".partial")
        self.journal = self.final.with_name(self.final.name + ".partial.json")
        self.job, self.rows, self.bytes, self.errors, self.ids = job, 0, 0, 0, hashlib.sha256()
        if self.journal.exists() and self.partial.exists():
            state = json.loads(self.journal.read_text())
            if state.get("job") != job:
                raise OutputError(f"{self.partial} is from a run with another model, other inputs or other options; "
                                  f"rerun that job, or delete {self.partial} and {self.journal.name} to start over")
            self.rows, self.bytes, self.errors, self.done_ids = state["rows"], state["bytes"], state["errors"], state["ids"]
        else:
            self.done_ids = None

    def skip_done(self, documents: Iterable[tuple[str, object]], max_bytes: int | None
                  ) -> Iterator[tuple[str, bytes | Exception]]:
        """documents (lazy: FileRefs unread) less those the partial file holds, which are
        checked by their ids and not read; the rest read as they come."""
        it = iter(documents)
        for _ in range(self.rows):
            doc = next(it, None)
            if doc is None:
                raise OutputError(f"{self.partial}: the inputs now hold fewer documents than were done")
            self.ids.update(doc[0].encode("utf-8", "surrogatepass") + b"\n")
        if self.rows and self.ids.hexdigest() != self.done_ids:
            raise OutputError(f"{self.partial}: the inputs' first {self.rows} documents are not the ones done; "
                              f"delete {self.partial} and {self.journal.name} to start over")
        for doc_id, data in it:
            yield doc_id, data.read(max_bytes) if isinstance(data, FileRef) else data

    def write(self, rows: Iterable[Row], fmt: str, k: int, abstain: bool = False,
              multi_label: bool = False) -> tuple[int, int]:
        """Write the rows after the done ones, a journal entry per CHUNK rows; then rename.
        Returns (rows, error rows) of the whole output."""
        if self.rows:
            os.truncate(self.partial, self.bytes)  # drop a chunk that the kill cut short
        with open(self.partial, "a" if self.rows else "w", encoding="utf-8", newline="") as fh:
            writer = TextWriter(fh, fmt, k, header=self.rows == 0, abstain=abstain, multi_label=multi_label)
            for row in rows:
                writer.write(row)
                self.rows += 1
                self.ids.update(row.id.encode("utf-8", "surrogatepass") + b"\n")
                self.errors += row.error is not None
                if self.rows % CHUNK == 0:
                    self._commit(fh)
            self._commit(fh)
        os.replace(self.partial, self.final)
        self.journal.unlink()
        return self.rows, self.errors

    def _commit(self, fh) -> None:
        """The rows so far are on disk; then the journal says so."""
        fh.flush()
        os.fsync(fh.fileno())
        self.bytes = os.fstat(fh.fileno()).st_size
        write_text(self.journal, json.dumps({"job": self.job, "rows": self.rows, "bytes": self.bytes,
                                             "errors": self.errors, "ids": self.ids.hexdigest()}))
