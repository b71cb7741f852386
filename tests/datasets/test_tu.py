import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from topolens.datasets import load_tu
from topolens.datasets.tu import _write_tu
from topolens.exceptions import DataNotFoundError, IntegrityError

DATA = os.environ.get("TOPOLENS_DATA")


def _tiny(tmp_path: Path) -> Path:
    # graph 0: a triangle written in both directions, one edge twice and a self-loop;
    # graph 1: a path of 3 nodes
    g0 = (3, [(0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2), (0, 1), (1, 1)])
    g1 = (3, [(0, 1), (1, 2)])
    return _write_tu(tmp_path / "tu", "TINY", [g0, g1], [1, -1], node_labels=[0, 1, 2, 3, 4, 5])


def test_tiny_folder_and_zip_give_the_same_deduplicated_graphs(tmp_path):
    folder = _tiny(tmp_path)
    d = load_tu("TINY", root=tmp_path)
    assert len(d) == 2 and d.y.tolist() == [1, -1]
    assert d[0].n_nodes == 3 and d[0].edges.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert d[1].edges.tolist() == [[0, 1], [1, 2]]
    assert d[1].node_labels.tolist() == [3, 4, 5]
    assert d.info["self-loops dropped"] == 1 and d.info["reverse or repeated edge lines merged"] == 4
    a = d[0].adjacency()
    assert (a == a.T).all() and a.sum() == 6
    z = tmp_path / "z"
    (z / "tu").mkdir(parents=True)
    with zipfile.ZipFile(z / "tu" / "TINY.zip", "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"TINY/{f.name}")
    dz = load_tu("TINY", root=z)
    assert all(np.array_equal(p.edges, q.edges) for p, q in zip(d.graphs, dz.graphs, strict=True))
    assert d.stats() == dz.stats()


def test_bad_tu_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="NOPE"):
        load_tu("NOPE", root=tmp_path)
    folder = _tiny(tmp_path)
    (folder / "TINY_A.txt").write_text("1, 5\n")  # node 5 belongs to graph 2
    with pytest.raises(IntegrityError, match="different graphs"):
        load_tu("TINY", root=tmp_path)
    (folder / "TINY_A.txt").write_text("1, 99\n")
    with pytest.raises(IntegrityError, match="node 99"):
        load_tu("TINY", root=tmp_path)
    (folder / "TINY_A.txt").write_text("1, 2\n")
    (folder / "TINY_graph_labels.txt").write_text("1\n")
    with pytest.raises(IntegrityError, match="graph_indicator"):
        load_tu("TINY", root=tmp_path)
    (folder / "TINY_graph_labels.txt").write_text("1\n0\n")
    (folder / "TINY_node_labels.txt").write_text("1\n2\n")
    with pytest.raises(IntegrityError, match="node_labels"):
        load_tu("TINY", root=tmp_path)
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "TINY_A.txt").write_text("1, 2\n")
    with pytest.raises(DataNotFoundError, match="graph_indicator"):
        load_tu("TINY", root=tmp_path)


PUBLISHED = {  # graphs, mean nodes, mean edges (TU collection statistics)
    "MUTAG": (188, 17.93, 19.79), "COX2": (467, 41.22, 43.45), "NCI1": (4110, 29.87, 32.30),
    "IMDB-BINARY": (1000, 19.77, 96.53), "IMDB-MULTI": (1500, 13.00, 65.94),
}


@pytest.mark.skipif(not DATA, reason="TOPOLENS_DATA is not set: the real TU files are not available")
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_real_tu_sets_match_the_published_statistics(name):
    if not (Path(DATA) / "tu" / f"{name}.zip").exists():
        pytest.skip(f"{name}.zip is not in $TOPOLENS_DATA/tu")
    s = load_tu(name).stats()
    n, nodes, edges = PUBLISHED[name]
    assert s["graphs"] == n
    assert s["mean nodes"] == pytest.approx(nodes, abs=0.006)
    assert s["mean edges"] == pytest.approx(edges, abs=0.006)
