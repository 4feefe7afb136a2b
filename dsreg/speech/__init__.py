"""Speech corpus conventions: TIMIT's phone sets and their standard folding."""
