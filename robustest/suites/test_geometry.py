"""Embedding geometry of the retriever under test: IsoScore, average cosine, uniformity and
alignment on a seeded sample of its cached corpus embeddings, and the spectral norms of its
linear layers (torch models only). The paper finds anisotropic models (high average cosine,
low IsoScore) less stable under typos. Reported always; gates only when set:
--robustest-geometry-max-average-cosine, --robustest-geometry-min-isoscore."""

import pytest

from robustest.geometry import geometry_line, index_geometry

pytestmark = pytest.mark.geometry


def test_embedding_geometry(robustest_session, robustness, corpus_index, clean_evaluation):
    # clean_evaluation: the summary and the results file report runs that measured effectiveness.
    settings = robustest_session.settings
    if hasattr(corpus_index.retriever, "build_searcher"):
        pytest.skip(f"{corpus_index.retriever.name} is lexical: it has no embeddings to measure")
    geometry = index_geometry(corpus_index, sample=settings.geometry_sample)
    robustness.add("geometry", geometry, line=geometry_line(geometry))
    ceiling, floor = settings.geometry_max_average_cosine, settings.geometry_min_isoscore
    problems = []
    if ceiling is not None and geometry["average_cosine"] > ceiling:
        problems.append(f"average cosine {geometry['average_cosine']:.4f} > {ceiling} (--robustest-geometry-max-average-cosine)")
    if floor is not None and geometry["isoscore"] < floor:
        problems.append(f"IsoScore {geometry['isoscore']:.4f} < {floor} (--robustest-geometry-min-isoscore)")
    assert not problems, "anisotropic embeddings: " + "; ".join(problems)
