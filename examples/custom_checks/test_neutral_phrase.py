"""A Hypothesis property: a polite phrase around the query keeps a relevant document in the
top 10. Hypothesis draws a query and a phrase; a failure prints the query, the phrase and the
ranks, shrunk to the first query and phrase that break it."""

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from robustest import strategies as rst

PHRASES = ("please find", "i am looking for", "documents about", "can you show me")


@dataclass(frozen=True)
class Phrase:  # a plan: a value with a pure apply(query) and describe(query)
    words: str

    def apply(self, query: str) -> str:
        return f"{self.words} {query}"

    def describe(self, query: str) -> str:
        return f"prefix {self.words!r}"


@rst.property_settings(max_examples=25, derandomize=True)  # the same examples every run, as a CI gate should
@given(data=st.data())
def test_a_neutral_phrase_keeps_a_relevant_document_in_the_top_10(robustness, data):
    # queries whose relevant document is safely inside the top 10 (the top 3)
    qid, query, plan = data.draw(rst.perturbed_queries(robustness.stable_queries(k=3), lambda q: st.sampled_from(PHRASES).map(Phrase)))
    robustness.keeps_relevant_in_top_k("neutral_phrase", qid, query, [plan], k=10)
