"""Run only some cells of the decorator table (tests/shapes/table.py) instead of the ~16 minute
fixture: ``python scripts/shape_cells.py parallel [--backend argo] [--dump DIR]``.

Each stem given is run on every backend (or the ones given with --backend) through Metaflow's
deployer and flowstacks, with the table's own functions, and its verdict printed; ``--dump``
writes Metaflow's compiled output of each accepted cell as JSON. Exit 1 when a cell disagrees
and is not listed in KNOWN_DISAGREEMENTS, or is listed and agrees (as the table test)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.oracle.harness import oracle_available, shared_oracle  # noqa: E402
from tests.shapes import table as t  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("stems", nargs="+", help="corpus rows (file name without _flow.py)")
    ap.add_argument("--backend", action="append", choices=t.BACKENDS)
    ap.add_argument("--dump", type=Path, help="write Metaflow's output of each cell here")
    args = ap.parse_args(argv)
    ok, why = oracle_available()
    if not ok:
        print(f"oracle unavailable: {why}", file=sys.stderr)
        return 1
    paths = {t.stem(p): p for p in t.corpus()}
    unknown = [s for s in args.stems if s not in paths]
    if unknown:
        print(f"no corpus flow for {', '.join(unknown)}", file=sys.stderr)
        return 1
    oracle = shared_oracle()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        for stem in args.stems:
            for backend in args.backend or t.BACKENDS:
                mf, theirs = t.run_metaflow(oracle, paths[stem], backend)
                if args.dump and theirs is not None:
                    args.dump.mkdir(parents=True, exist_ok=True)
                    (args.dump / f"{stem}-{backend}.json").write_text(
                        json.dumps(theirs, indent=1, default=str))
                work = Path(tmp) / f"{stem}-{backend}"
                fs, points, equal, diffs = t.run_flowstacks(paths[stem], backend, theirs, work,
                                                            home, oracle.endpoint)
                cell = t.Cell(stem, backend, mf, fs, points, equal, diffs)
                listed = cell.key in t.KNOWN_DISAGREEMENTS
                wrong = (cell.verdict == t.DISAGREEMENT) != listed
                bad += wrong
                print(f"{stem} {backend}: {cell.verdict} ({cell.equal}/{cell.points})"
                      f"{' [listed as known disagreement]' if listed else ''}"
                      f"{' <- UNEXPECTED' if wrong else ''}")
                print(f"  Metaflow {t._side(mf)}\n  flowstacks {t._side(fs)}")
                for d in diffs[:40]:
                    print(f"  differs: {d}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
