"""Where robustest meets the tools retriever people already use: sentence-transformers training, MTEB.

Each module imports its tool; importing robustest imports none of them."""
