"""Running methods (chapter 6): the stream loop and evaluation (`loop`), checkpoints (`checkpoint`), run
records (`records`), one call from options to a record (`experiment`) and the paper's numbers (`paper`).
Imports only `mygo_nb.learners` and below."""
