"""Document identity, not a score: capitalizing the first letter never changes the top-1
document (with threshold=0 one changed query fails; pass e.g. threshold=0.05 to tolerate a share)."""


def test_capitalizing_never_changes_the_top_document(robustness):
    robustness.top_k_unchanged("capitalized", k=1)
