"""Where a stack's reviewer artifacts go while the program runs (disk I/O: not a renderer)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from flowstacks.render.artifact import Artifact


class ArtifactSink:
    """The artifacts of one stack, in order. Given a folder, each is written there as soon as
    it is made and only its path is kept, so that a stack of a thousand flows never holds all
    its templates in memory at once (``flowstacks synth`` writes into its staging folder)."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self._items: list[Artifact] = []

    def append(self, artifact: Artifact) -> None:
        if self.folder is not None:
            target = self.folder / artifact.path
            if target.exists():
                raise RuntimeError(f"two artifacts write {artifact.path}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(artifact.content, encoding="utf-8")
            artifact = Artifact(artifact.path, "", written=True)
        self._items.append(artifact)

    def extend(self, artifacts: Iterable[Artifact]) -> None:
        for artifact in artifacts:
            self.append(artifact)

    def __iadd__(self, artifacts: Iterable[Artifact]) -> "ArtifactSink":
        self.extend(artifacts)
        return self

    def __iter__(self) -> Iterator[Artifact]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
