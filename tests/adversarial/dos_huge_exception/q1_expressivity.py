# Attack: importing raises an exception whose message is 15 MB, which every check quotes.
raise ValueError("x" * 15_000_000)
