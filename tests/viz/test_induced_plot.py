import matplotlib

matplotlib.use("Agg")

import re

import numpy as np
import pytest
import torch

from topolens.exceptions import InvalidInputError
from topolens.graphs import induced_graphs, neural_persistence, unroll
from topolens.models import SmallCNN
from topolens.report import Report, add_weight_graph_section
from topolens.viz.induced import plot_subgraph


@pytest.fixture(scope="module")
def graphs():
    torch.manual_seed(0)
    model = SmallCNN(c1=4, c2=4, hidden=16).eval()
    x = torch.rand(2, 1, 28, 28) * (torch.rand(2, 1, 28, 28) > 0.6)
    net = unroll(model, (1, 28, 28))
    return model, net, x, induced_graphs(net, x)


def test_plot_subgraph_draws_every_edge_of_the_family(graphs):
    _, net, x, gs = graphs
    g = gs[0]
    fig = plot_subgraph(net, g, 0, image=x[0].numpy())
    ax = fig.axes[0]
    (lines,) = ax.collections[:1]
    fam = {0} | set(np.flatnonzero(g.subgraph_parent == 0).tolist())
    assert len(lines.get_segments()) >= int(np.isin(g.subgraph, sorted(fam)).sum())
    assert len(fig.axes) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["input", *net.layer_names]
    fig2 = plot_subgraph(net, g, 0, family=False)
    assert len(fig2.axes[0].collections[0].get_segments()) == int((g.subgraph == 0).sum())
    with pytest.raises(InvalidInputError, match="rank"):
        plot_subgraph(net, g, g.n_subgraphs)


def test_weight_graph_section_in_a_report(graphs, tmp_path):
    model, net, x, gs = graphs
    rep = Report("t")
    add_weight_graph_section(rep, neural_persistence=neural_persistence(model), network=net,
                             examples=[("<b>x</b>", x[0].numpy(), gs[0])])
    html = rep.write(tmp_path / "r.html").read_text()
    assert "Neural persistence per layer" in html and "fc2" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert html.count("data:image/png;base64") == 1


def test_sections_and_plots_for_empty_flat_and_rgb_inputs(tmp_path):
    from torch import nn

    from topolens.pipeline import weight_graph_analysis

    torch.manual_seed(5)
    mlp = nn.Sequential(nn.Linear(20, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False))
    x = torch.rand(3, 20)
    x[1] = 0  # a blank input: no edge at all
    with pytest.warns(UserWarning, match="no edge"):
        run = weight_graph_analysis(mlp, x, torch.tensor([0, 1, 2]), n_examples=2, eps=0.1)
    assert run.examples[0][1] is None  # no image panel for flat inputs
    rep = Report("t")
    run.add_to(rep)
    html = rep.write(tmp_path / "r.html").read_text()
    assert "nothing to draw" in html
    with pytest.raises(InvalidInputError, match="n_examples"):
        weight_graph_analysis(mlp, x, None, n_examples=0)
    cnn = nn.Sequential(nn.Conv2d(3, 2, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 4, bias=False))
    net = unroll(cnn, (3, 8, 8))
    xr = torch.rand(1, 3, 8, 8)
    g = induced_graphs(net, xr)[0]
    fig = plot_subgraph(net, g, 0, image=xr[0].numpy())
    assert fig.axes[1].images[0].get_array().shape == (8, 8, 3)
    with pytest.raises(InvalidInputError, match="image"):
        plot_subgraph(net, g, 0, image=np.zeros(5))


def test_drawings_have_a_legend_and_a_persistence_number(graphs):
    _, net, x, gs = graphs
    g = gs[0]
    fig = plot_subgraph(net, g, 0, image=x[0].numpy())
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any("red dot" in t for t in texts) and any("blue line" in t for t in texts)
    assert any("grey pixels" in t for t in texts) and any("red circle" in t for t in texts)
    title = fig.axes[0].get_title()
    assert re.search(r"persistence (inf \(never merges; born at \|w h\| = [0-9.e+-]+\)|[0-9.e+-]+)", title)
    fig2 = plot_subgraph(net, g, 0)  # no image panel: the two layer marks only
    texts2 = [t.get_text() for leg in fig2.legends for t in leg.get_texts()]
    assert any("red dot" in t for t in texts2) and not any("grey" in t for t in texts2)


def test_fgsm_example_says_whether_the_prediction_changed(tmp_path):
    from topolens.pipeline import weight_graph_analysis

    torch.manual_seed(0)
    model = SmallCNN(c1=4, c2=4, hidden=16).eval()
    x = torch.rand(2, 1, 28, 28)
    y = torch.tensor([3, 1])
    run = weight_graph_analysis(model, x, y, n_examples=2, eps=0.3)
    with torch.no_grad():
        clean = int(model(x[:1]).argmax())
    a = run.attack
    assert a["label"] == 3 and a["clean prediction"] == clean
    rep = Report("t")
    run.add_to(rep)
    html = rep.to_html()
    verdict = "changed the prediction" if a["adversarial prediction"] != clean else "did not change the prediction"
    assert f"the attack {verdict}" in html
    assert f"clean prediction {clean}, adversarial prediction {a['adversarial prediction']}" in html
    assert "How to read this" in html and "Red dots: neurons" in html
    assert re.search(r"<td[^>]*>\s*</td>", html) is None


def test_title_counts_own_and_merged_edges_like_the_table(graphs, tmp_path):
    """Regression: the drawing's title counted the edges of the subgraph with the younger
    ones merged into it, the report's table only its own: two different numbers, unexplained."""
    _, net, x, gs = graphs
    g = gs[0]
    own = int((g.subgraph == 0).sum())
    fig = plot_subgraph(net, g, 0, image=x[0].numpy())
    title = fig.axes[0].get_title()
    drawn = int(re.match(r"subgraph 0: (\d+) edges", title).group(1))
    assert drawn > own  # the premise: younger subgraphs are merged in
    assert f"\n({own} its own, {drawn - own} from the " in title
    # the title is not cut at the figure's edge (it was, on one line)
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert f"subgraph 0: {own} edges," in plot_subgraph(net, g, 0, family=False).axes[0].get_title()
    rep = Report("t")
    add_weight_graph_section(rep, network=net, examples=[("x", None, g)])
    html = rep.to_html()
    assert "top subgraph own edges" in html and f'<td class="num">{own}</td>' in html
